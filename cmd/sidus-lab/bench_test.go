package main

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseStorm(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []int
		wantErr string // a part of the error, "" for none
	}{
		{"1,4,8,16", []int{1, 4, 8, 16}, ""},
		{" 2, 3 ", []int{2, 3}, ""},
		{"32", []int{32}, ""},
		{"none", []int{}, ""},
		{"0", []int{}, ""},
		{"", []int{}, ""},
		{"x", nil, `-storm: "x" is not a node count; want comma-separated positive integers like 1,4,8,16`},
		{"1,,4", nil, `-storm: "" is not a node count`},
		{"1,0", nil, `-storm: "0" is not a node count`},
		{"-2", nil, `-storm: "-2" is not a node count`},
		{"4 8", nil, `-storm: "4 8" is not a node count`},
		{"33", nil, "-storm: 33 nodes in one batch is more than 32"},
	} {
		got, err := parseStorm(tc.in)
		if tc.wantErr == "" {
			if err != nil || !reflect.DeepEqual(got, tc.want) || got == nil {
				t.Errorf("parseStorm(%q) = %#v, %v; want %#v", tc.in, got, err, tc.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("parseStorm(%q) = %v, %v; want an error with %q", tc.in, got, err, tc.wantErr)
		}
	}
}
