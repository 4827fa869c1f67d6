package bench

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"image/color"
	"math"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// StormPoint is one point of the storm plot: the time until the last of N
// nodes of a variant, powered on at once, reached its root's init.
type StormPoint struct {
	Variant string
	N       int
	Seconds float64
}

// The plot's size, and each curve's color and glyph, in the order the
// variants first appear.
const (
	plotWidth  = 16 * vg.Centimeter
	plotHeight = 10 * vg.Centimeter
)

var (
	plotColors = []color.Color{
		color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, // blue
		color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}, // red
		color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, // green
		color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}, // purple
	}
	plotGlyphs = []draw.GlyphDrawer{draw.CircleGlyph{}, draw.BoxGlyph{}, draw.PyramidGlyph{}, draw.PlusGlyph{}}
)

// StormPlot renders the boot storm as a PNG (16 cm × 10 cm): the time
// until the last node's root init (s, y from 0) against N (a tick at each
// N), one line with points per variant and a legend. Points without a
// positive N or a finite, non-negative time are left out. The same points
// give the same bytes.
func StormPlot(points []StormPoint) ([]byte, error) {
	var names []string
	curves := map[string]plotter.XYs{}
	var ns []int
	ymax := 0.0
	for _, pt := range points {
		if pt.N <= 0 || pt.Seconds < 0 || math.IsNaN(pt.Seconds) || math.IsInf(pt.Seconds, 0) {
			continue
		}
		if _, ok := curves[pt.Variant]; !ok {
			names = append(names, pt.Variant)
		}
		curves[pt.Variant] = append(curves[pt.Variant], plotter.XY{X: float64(pt.N), Y: pt.Seconds})
		if !slices.Contains(ns, pt.N) {
			ns = append(ns, pt.N)
		}
		ymax = max(ymax, pt.Seconds)
	}
	if len(names) == 0 {
		return nil, errors.New("storm plot: no point with a node count and a time (did every batch fail?)")
	}
	slices.Sort(ns)

	p := plot.New()
	p.Title.Text = "Boot storm: N nodes PXE-booted at once"
	p.X.Label.Text = "N (nodes powered on at once)"
	p.Y.Label.Text = "time until the last node's root init (s)"
	p.Add(plotter.NewGrid())
	for i, name := range names {
		xys := curves[name]
		slices.SortStableFunc(xys, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
		line, dots, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, fmt.Errorf("storm plot: %s: %w", name, err)
		}
		c := plotColors[i%len(plotColors)]
		line.Color = c
		line.Width = vg.Points(1.5)
		dots.Color = c
		dots.Shape = plotGlyphs[i%len(plotGlyphs)]
		dots.Radius = vg.Points(3)
		p.Add(line, dots)
		p.Legend.Add(name, line, dots)
	}
	var ticks plot.ConstantTicks
	for _, n := range ns {
		ticks = append(ticks, plot.Tick{Value: float64(n), Label: strconv.Itoa(n)})
	}
	p.X.Tick.Marker = ticks
	p.X.Min, p.X.Max = 0, float64(ns[len(ns)-1])+1
	p.Y.Min, p.Y.Max = 0, max(ymax*1.1, 1)
	p.Y.Tick.Marker = secondsTicks{}
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(8), -vg.Points(4)

	w, err := p.WriterTo(plotWidth, plotHeight, "png")
	if err != nil {
		return nil, fmt.Errorf("storm plot: %w", err)
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("storm plot: PNG: %w", err)
	}
	return buf.Bytes(), nil
}

// secondsTicks marks the time axis every 1, 2 or 5 × 10^k seconds, the
// step that gives 4 to 10 labelled ticks, with as many decimals as the
// step has.
type secondsTicks struct{}

// Ticks implements plot.Ticker.
func (secondsTicks) Ticks(lo, hi float64) []plot.Tick {
	step := tickStep(hi - lo)
	decimals := max(0, int(-math.Floor(math.Log10(step)+1e-9)))
	var ts []plot.Tick
	for i := math.Ceil(lo/step - 1e-9); i <= math.Floor(hi/step+1e-9); i++ {
		v := i * step
		if v == 0 {
			v = 0 // not -0
		}
		ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', decimals, 64)})
	}
	return ts
}

// tickStep returns the step of 1, 2 or 5 × 10^k that cuts span into 4 to
// 10 parts (1 for an empty span).
func tickStep(span float64) float64 {
	if span <= 0 || math.IsNaN(span) || math.IsInf(span, 0) {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(span)))
	for _, m := range []float64{0.1, 0.2, 0.5, 1, 2, 5, 10} {
		if step := m * mag; span/step <= 10 {
			return step
		}
	}
	return 10 * mag
}
