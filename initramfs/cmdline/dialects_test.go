package cmdline

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// dialectsFile is the corpus of command lines that other tools' users
// write, with what their source says they mean and the Config facts that
// meaning gives here.
const dialectsFile = "../../testdata/cmdline/dialects.tsv"

// dialectCase is one line of dialects.tsv:
//
//	<command line> TAB <source> TAB <what the source says it means> TAB <facts>
//
// Facts are separated by " | ", each one of:
//
//	Path=value   the value at Path (see factValue) is value
//	#Path=n      the slice or map at Path has n elements
//	warn~text    some warning contains text
//	error=Param  Parse fails with a *ParamError for Param
//	error~text   ... whose message contains text
//
// Lines starting with '#' and blank lines are skipped.
type dialectCase struct {
	line                   int
	cmdline, source, means string
	facts                  []string
}

func readDialects(tb testing.TB) []dialectCase {
	tb.Helper()
	f, err := os.Open(dialectsFile)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var cases []dialectCase
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for n := 1; sc.Scan(); n++ {
		text := sc.Text()
		if strings.TrimSpace(text) == "" || strings.HasPrefix(text, "#") {
			continue
		}
		cols := strings.Split(text, "\t")
		if len(cols) != 4 {
			tb.Fatalf("%s:%d: %d tab-separated columns, want 4 (cmdline, source, meaning, facts)", dialectsFile, n, len(cols))
		}
		c := dialectCase{line: n, cmdline: cols[0], source: cols[1], means: cols[2]}
		for _, fact := range strings.Split(cols[3], " | ") {
			if fact = strings.TrimSpace(fact); fact != "" {
				c.facts = append(c.facts, fact)
			}
		}
		if c.source == "" || c.means == "" || len(c.facts) == 0 {
			tb.Fatalf("%s:%d: empty source, meaning or facts", dialectsFile, n)
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return cases
}

// TestDialects parses every command line of dialects.tsv and checks its
// facts; each accepted line must also survive the canonical round trip.
func TestDialects(t *testing.T) {
	cases := readDialects(t)
	if len(cases) < 60 {
		t.Errorf("%d cases in %s, want at least 60", len(cases), dialectsFile)
	}
	for _, dc := range cases {
		t.Run(fmt.Sprintf("line%d", dc.line), func(t *testing.T) {
			t.Logf("%s\n  source: %s\n  means: %s", dc.cmdline, dc.source, dc.means)
			c, err := Parse(dc.cmdline, nil, nil)
			wantErr := false
			for _, f := range dc.facts {
				wantErr = wantErr || strings.HasPrefix(f, "error")
			}
			if wantErr {
				var pe *ParamError
				if !errors.As(err, &pe) {
					t.Fatalf("Parse = %v, want a *ParamError", err)
				}
				for _, f := range dc.facts {
					switch {
					case strings.HasPrefix(f, "error="):
						if want := strings.TrimPrefix(f, "error="); pe.Param != want {
							t.Errorf("ParamError.Param = %q, want %q (%v)", pe.Param, want, err)
						}
					case strings.HasPrefix(f, "error~"):
						if want := strings.TrimPrefix(f, "error~"); !strings.Contains(err.Error(), want) {
							t.Errorf("error %q does not contain %q", err, want)
						}
					default:
						t.Errorf("fact %q on a line that must fail", f)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse = %v", err)
			}
			for _, f := range dc.facts {
				if err := checkFact(c, f); err != nil {
					t.Errorf("%s (warnings %q)", err, c.Warnings)
				}
			}
			for _, w := range c.Warnings {
				if k := warningParam(w); params[k] == nil || !strings.Contains(dc.cmdline, k) {
					t.Errorf("warning %q does not start with a parameter of the line", w)
				}
			}
			checkRoundTrip(t, dc.cmdline, c)
		})
	}
}

func checkFact(c *Config, fact string) error {
	if want, ok := strings.CutPrefix(fact, "warn~"); ok {
		for _, w := range c.Warnings {
			if strings.Contains(w, want) {
				return nil
			}
		}
		return fmt.Errorf("no warning contains %q", want)
	}
	path, want, ok := strings.Cut(fact, "=")
	if !ok {
		return fmt.Errorf("fact %q: want Path=value, #Path=n or warn~text", fact)
	}
	count := strings.HasPrefix(path, "#")
	v, err := factValue(reflect.ValueOf(*c), strings.TrimPrefix(path, "#"))
	if err != nil {
		return fmt.Errorf("fact %q: %v", fact, err)
	}
	var got string
	if count {
		if v.IsValid() && (v.Kind() == reflect.Slice || v.Kind() == reflect.Map) {
			got = strconv.Itoa(v.Len())
		} else if !v.IsValid() {
			got = "0"
		} else {
			return fmt.Errorf("fact %q: %s is not a slice or map", fact, path)
		}
	} else {
		got = formatFact(v)
	}
	if got != want {
		return fmt.Errorf("%s = %q, want %q", path, got, want)
	}
	return nil
}

// factValue walks path from v: Field, Field[i] (a slice element), and
// Field.key for a map. A missing map key or an index past the end gives
// an invalid Value.
func factValue(v reflect.Value, path string) (reflect.Value, error) {
	for _, part := range strings.Split(path, ".") {
		if !v.IsValid() {
			return v, nil
		}
		idx := -1
		if i := strings.IndexByte(part, '['); i >= 0 && strings.HasSuffix(part, "]") {
			n, err := strconv.Atoi(part[i+1 : len(part)-1])
			if err != nil {
				return v, fmt.Errorf("bad index in %q", part)
			}
			part, idx = part[:i], n
		}
		switch v.Kind() {
		case reflect.Struct:
			f := v.FieldByName(part)
			if !f.IsValid() {
				return v, fmt.Errorf("no field %q in %s", part, v.Type())
			}
			v = f
		case reflect.Map:
			v = v.MapIndex(reflect.ValueOf(part))
		default:
			return v, fmt.Errorf("%q: cannot look into a %s", part, v.Type())
		}
		if idx >= 0 && v.IsValid() {
			if v.Kind() != reflect.Slice {
				return v, fmt.Errorf("%q is not a slice", part)
			}
			if idx >= v.Len() {
				return reflect.Value{}, nil
			}
			v = v.Index(idx)
		}
	}
	return v, nil
}

// formatFact renders a leaf as the facts write it: lists comma-joined,
// addresses in their usual form, a netmask as its prefix length.
func formatFact(v reflect.Value) string {
	if !v.IsValid() {
		return "<absent>"
	}
	switch x := v.Interface().(type) {
	case net.IP:
		if x == nil {
			return ""
		}
		return x.String()
	case net.IPMask:
		if x == nil {
			return ""
		}
		ones, _ := x.Size()
		return strconv.Itoa(ones)
	case net.HardwareAddr:
		return x.String()
	case time.Duration:
		return x.String()
	case *bool:
		if x == nil {
			return "nil"
		}
		return strconv.FormatBool(*x)
	case []string:
		return strings.Join(x, ",")
	case []net.IP:
		var s []string
		for _, ip := range x {
			s = append(s, ip.String())
		}
		return strings.Join(s, ",")
	}
	return fmt.Sprint(v.Interface())
}

// The facts checker itself: a wrong fact must be reported.
func TestCheckFact(t *testing.T) {
	c, err := Parse("ip=10.0.0.2::10.0.0.1:24::eth0:none ip=eth1:dhcp bond=bond0:eth2,eth3:miimon=100 ip=rarp", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		fact string
		ok   bool
	}{
		{"IP.Mode=static", true}, {"IP.Netmask=24", true}, {"IP.Client=10.0.0.2", true},
		{"#IPs=3", true}, {"IPs[1].Device=eth1", true}, {"IPs[5].Device=<absent>", true},
		{"Bonds[0].Slaves=eth2,eth3", true}, {"Bonds[0].Options.miimon=100", true},
		{"Bonds[0].Options.mode=<absent>", true}, {"RescueShell=nil", true}, {"warn~RARP", true},
		{"IP.Mode=dhcp", false}, {"#IPs=2", false}, {"warn~BOOTP", false}, {"Nope=1", false}, {"IP", false},
	} {
		if err := checkFact(c, tt.fact); (err == nil) != tt.ok {
			t.Errorf("checkFact(%q) = %v, want ok %v", tt.fact, err, tt.ok)
		}
	}
}

// Warnings and errors never show a CHAP secret or an overlayroot pass=.
func TestWarningsRedactSecrets(t *testing.T) {
	for _, line := range []string{
		"netroot=iscsi:alice:s3cr3t@192.168.50.1:17:3260::iqn.2009-06.dracut:target0",
		"netroot=iscsi:alice:s3cr3t:bob:s3cr3t@192.168.50.1::3260:if0:nd0:0:iqn.2009-06.dracut:target0",
		"root=iscsi:alice:s3cr3t@192.168.50.1::::iqn.2009-06.dracut:target0",
		"overlayroot=crypt:dev=xvdb,pass=s3cr3t,mkfs=0",
		"overlayroot=crypt:dev=xvdb,pass=s3cr3t aufs=iscsi rd.iscsi.firmware",
	} {
		c, err := Parse(line, nil, nil)
		if err != nil {
			t.Fatalf("Parse(%q) = %v", line, err)
		}
		if len(c.Warnings) == 0 {
			t.Errorf("Parse(%q): no warnings", line)
		}
		for _, w := range c.Warnings {
			if strings.Contains(w, "s3cr3t") {
				t.Errorf("Parse(%q): warning %q shows the secret", line, w)
			}
		}
	}
	for _, line := range []string{
		"netroot=iscsi:alice:s3cr3t@192.168.50.1::99999::iqn.2009-06.dracut:target0",
		"overlayroot=crypt:dev=xvdb,pass=s3cr3t,=x",
	} {
		if _, err := Parse(line, nil, nil); err == nil || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("Parse(%q) = %v, want an error without the secret", line, err)
		}
	}
}
