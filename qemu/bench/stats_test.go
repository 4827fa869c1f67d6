package bench

import (
	"strings"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want Summary
	}{
		{nil, Summary{}},
		{[]float64{-1, -1}, Summary{}},
		{[]float64{3, 1, 2}, Summary{N: 3, Median: 2, Min: 1, Max: 3}},
		{[]float64{4, 1, 2, 3, -1}, Summary{N: 4, Median: 2.5, Min: 1, Max: 4}},
	} {
		if got := Summarize(tc.in); got != tc.want {
			t.Errorf("Summarize(%v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	if got := (Summary{N: 3, Median: 2, Min: 1, Max: 3}).Format("%.1f"); got != "2.0 (1.0–3.0)" {
		t.Errorf("Format = %q", got)
	}
	if got := (Summary{}).Format("%.1f"); got != "n/a" {
		t.Errorf("Format of nothing = %q", got)
	}
}

func TestMarkdown(t *testing.T) {
	mk := func(name string, ours bool, size int64, root ...float64) *Variant {
		v := &Variant{Name: name, Ours: ours, Size: size, Modules: 10, CPU: "max"}
		for _, r := range root {
			b := Boot{RunInit: 2, RootInit: r, VmHWMkB: 1000}
			if ours {
				b.Stages = []Stage{{"modules", 1}, {"network", 1}, {"init", r - 4}}
			}
			v.Boots = append(v.Boots, b)
		}
		return v
	}
	r := &Report{Date: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Machine: "2 × test", Kernel: "6.1.0-test", N: 3,
		Variants: []*Variant{mk("ours", true, 5e6, 8, 9, 10), mk("initramfs-tools", false, 10e6, 24, 25, 26),
			{Name: "dracut", Skipped: "not requested", Modules: -1}},
		Ours: 0, ITools: 1, Dracut: 2}
	md := r.Markdown()
	for _, want := range []string{
		"| ours | max | 5.0 MB | 10 | 2.00 | 7.00 (6.00–8.00) | 9.00 (8.00–10.00) | 1000 | 3/3 |",
		"| ours / initramfs-tools | 0.36 | 0.30 | 0.50 |",
		"| dracut | QEMU default | n/a | | skipped: not requested |",
		"| ours | max | 1.000 | 1.000 | n/a | n/a | n/a | 5.000 (4.000–6.000) |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown has no line %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "ours / dracut") {
		t.Errorf("a skipped variant has a ratio row:\n%s", md)
	}
}
