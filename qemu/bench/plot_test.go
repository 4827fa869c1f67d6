package bench

import (
	"bytes"
	"image/png"
	"math"
	"strings"
	"testing"
)

func TestStormPlot(t *testing.T) {
	pts := []StormPoint{
		{"ours (SIDUS-Go)", 1, 25}, {"initramfs-tools", 1, 31},
		{"ours (SIDUS-Go)", 4, 48}, {"initramfs-tools", 4, 70},
		{"ours (SIDUS-Go)", 16, 160}, {"initramfs-tools", 16, 260},
		{"ours (SIDUS-Go)", 8, 90}, {"initramfs-tools", 8, 140},
		// Left out: no N, no time.
		{"ours (SIDUS-Go)", 0, 5}, {"initramfs-tools", 2, -1}, {"initramfs-tools", 3, math.NaN()},
	}
	a, err := StormPlot(pts)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(a))
	if err != nil {
		t.Fatalf("StormPlot's output is not a PNG: %v", err)
	}
	// 16 cm × 10 cm at vgimg's 96 dpi.
	if b := img.Bounds(); b.Dx() < 500 || b.Dy() < 300 || b.Dx() <= b.Dy() {
		t.Errorf("plot is %v, want about 605×378", b)
	}

	again, err := StormPlot(pts)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, again) {
		t.Errorf("the same points gave different PNGs")
	}
	other := append([]StormPoint(nil), pts...)
	other[5].Seconds = 130 // theirs at N=16 faster
	b, err := StormPlot(other)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, b) {
		t.Errorf("different points gave the same PNG")
	}

	if _, err := StormPlot(nil); err == nil {
		t.Errorf("StormPlot(nil): no error")
	}
	if _, err := StormPlot([]StormPoint{{"ours", 4, -1}}); err == nil {
		t.Errorf("StormPlot of only failed batches: no error")
	}
}

func TestTickStep(t *testing.T) {
	for _, tc := range []struct{ span, want float64 }{
		{286, 50}, {100, 10}, {33, 5}, {10, 1}, {1, 0.1}, {0, 1}, {-3, 1}, {1500, 200},
	} {
		if got := tickStep(tc.span); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("tickStep(%v) = %v, want %v", tc.span, got, tc.want)
		}
	}
	var labels []string
	for _, tk := range (secondsTicks{}).Ticks(0, 286) {
		labels = append(labels, tk.Label)
	}
	if got := strings.Join(labels, " "); got != "0 50 100 150 200 250" {
		t.Errorf("ticks of 0–286 s: %s", got)
	}
	labels = nil
	for _, tk := range (secondsTicks{}).Ticks(0, 0.35) {
		labels = append(labels, tk.Label)
	}
	if got := strings.Join(labels, " "); got != "0.00 0.05 0.10 0.15 0.20 0.25 0.30 0.35" {
		t.Errorf("ticks of 0–0.35 s: %s", got)
	}
}
