package cmdline

import (
	"reflect"
	"testing"
)

func TestTokenize(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []token
	}{
		{"", nil},
		{"  a  b=c ", []token{{key: "a"}, {key: "b", val: "c", hasVal: true}}},
		{`a="b c" d`, []token{{key: "a", val: "b c", hasVal: true}, {key: "d"}}},
		{`"a=b c" d`, []token{{key: "a", val: "b c", hasVal: true}, {key: "d"}}},
		{`"a b"`, []token{{key: "a b"}}},
		{`a=b"c d"e`, []token{{key: "a", val: `b"c d"e`, hasVal: true}}},
		{`a=`, []token{{key: "a", hasVal: true}}},
		{`a=""`, []token{{key: "a", hasVal: true}}},
		{`a="`, []token{{key: "a", hasVal: true, unterminated: true}}},
		{`=a=b`, []token{{key: "=a", val: "b", hasVal: true}}},
		{`a="b c`, []token{{key: "a", val: "b c", hasVal: true, unterminated: true}}},
		{`""`, []token{{key: ""}}},
		{`"`, []token{{key: "", unterminated: true}}},
	} {
		if got := tokenize(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("tokenize(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}
