package bench

import (
	"math"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestSummarizeOneToHundred(t *testing.T) {
	var data []float64
	for i := 100; i >= 1; i-- { // unsorted on purpose
		data = append(data, float64(i))
	}
	s := Summarize(data)
	// numpy.percentile(range(1, 101), [50, 95, 99]) = 50.5, 95.05, 99.01
	want := Summary{Count: 100, Median: 50.5, P95: 95.05, P99: 99.01, Mean: 50.5, Min: 1, Max: 100}
	if s.Count != want.Count || !near(s.Median, want.Median) || !near(s.P95, want.P95) ||
		!near(s.P99, want.P99) || !near(s.Mean, want.Mean) || s.Min != want.Min || s.Max != want.Max {
		t.Fatalf("Summarize(1..100) = %+v, want %+v", s, want)
	}
	if data[0] != 100 {
		t.Fatalf("Summarize sorted its input in place")
	}
}

func TestPercentileSmallSets(t *testing.T) {
	cases := []struct {
		data    []float64
		p, want float64
	}{
		{[]float64{7}, 50, 7},
		{[]float64{7}, 99, 7},
		{[]float64{1, 2}, 50, 1.5},
		{[]float64{1, 2, 3, 4}, 50, 2.5},
		{[]float64{10, 20, 30, 40, 50}, 95, 48},
		{[]float64{10, 20, 30, 40, 50}, 0, 10},
		{[]float64{10, 20, 30, 40, 50}, 100, 50},
	}
	for _, c := range cases {
		if got := Percentile(c.data, c.p); !near(got, c.want) {
			t.Errorf("Percentile(%v, %v) = %v, want %v", c.data, c.p, got, c.want)
		}
	}
	if !math.IsNaN(Percentile(nil, 50)) {
		t.Errorf("Percentile(nil) is not NaN")
	}
	if s := Summarize(nil); s.Count != 0 {
		t.Errorf("Summarize(nil) = %+v", s)
	}
}

func TestSlope(t *testing.T) {
	xs := []float64{0, 10, 20, 30}
	ys := []float64{1000, 1300, 1500, 1950} // y ≈ 30.5x + 975
	if got := Slope(xs, ys); !near(got, 30.5) {
		t.Fatalf("Slope = %v, want 30.5", got)
	}
	if !math.IsNaN(Slope(xs[:2], ys[:2])) || !math.IsNaN(Slope([]float64{1, 1, 1}, []float64{1, 2, 3})) {
		t.Fatal("Slope of too few points or no x spread is not NaN")
	}
}
