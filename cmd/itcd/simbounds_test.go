package main

import (
	"math"
	"strings"
	"testing"

	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/sim/tilegrid"
)

// The report's bounds: the loss-adjusted bound is the multipath bound
// over (1 - loss), present only when the links lose packets.
func TestReportLossAdjustedBound(t *testing.T) {
	geo := tilegrid.Geometry{W: 4, H: 4}
	p := &pushFile{size: 262144, src: tilegrid.Coord{}}
	done := make([]float64, geo.Len())
	for i := range done {
		done[i] = 5
	}
	var lossless, lossy simJSON
	p.fillJSON(&lossless, geo, dev.LinkProfile{Rate: 65536}, done)
	p.fillJSON(&lossy, geo, dev.LinkProfile{Rate: 65536, Loss: 0.2}, done)
	if lossless.LossAdjusted != nil {
		t.Fatalf("loss_adjusted_bound_s %v without loss", *lossless.LossAdjusted)
	}
	if lossy.Multi == nil || lossy.LossAdjusted == nil {
		t.Fatalf("bounds missing: %+v", lossy)
	}
	if want := *lossy.Multi / 0.8; math.Abs(*lossy.LossAdjusted-want) > 0.002 {
		t.Fatalf("loss_adjusted_bound_s %v, want %v", *lossy.LossAdjusted, want)
	}
	if s := boundsSummary(&lossy); !strings.Contains(s, "through the links' loss") {
		t.Fatalf("summary %q does not give the loss-adjusted bound", s)
	}
}
