package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// simBenchReport is the part of `itcd sim --json` the benchmark reads.
type simBenchReport struct {
	AllComplete *float64 `json:"all_complete_s"`
	Multi       *float64 `json:"multipath_bound_s"`
	Pushed      *float64 `json:"pushed_s"`
	Events      []struct {
		T     float64 `json:"t_s"`
		Event string  `json:"event"`
	} `json:"events"`
	Links []struct {
		InDropped uint64  `json:"in_dropped"`
		RateKept  float64 `json:"rate_kept"`
	} `json:"links"`
}

// BenchmarkSimGrid20x20 is issue 13's 400-tile case as a user runs it:
// `itcd sim --grid 20x20 --push` of 1 MiB from a corner, --json. On the
// machine's time a small machine runs out of CPU long before the grid
// does (the push is then the machine's, not the protocol's); on a clock
// 12 times slower (--slowdown) it has the CPU to keep the links' rates
// and deadlines in the grid's time. It reports the time until every tile
// holds the file as a ratio to the multipath bound, the false
// disconnects during the push, packets dropped by full receive queues,
// and the worst rate kept by a link busy for a second or more (1: exact).
func BenchmarkSimGrid20x20(b *testing.B) {
	dir := b.TempDir()
	key, file := makeSignedFile(b, dir, "physics.mfz", 1<<20)
	for _, slowdown := range []int{1, 12} {
		b.Run(fmt.Sprintf("slowdown=%d", slowdown), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				var out, errb bytes.Buffer
				began := time.Now()
				code := runSim([]string{"--grid", "20x20", "--slowdown", fmt.Sprint(slowdown), "--dir", filepath.Join(b.TempDir(), "g"),
					"--trust", key, "--push", file, "--until-complete", "--timeout", "5m", "--json", "--log-level", "warn"}, &out, &errb)
				machine := time.Since(began)
				if code != 0 {
					b.Fatalf("exit %d: %s", code, errb.String())
				}
				var r simBenchReport
				if err := json.Unmarshal(out.Bytes(), &r); err != nil {
					b.Fatal(err)
				}
				if r.AllComplete == nil || r.Multi == nil || r.Pushed == nil {
					b.Fatalf("no completion in the report: %s", errb.String())
				}
				disconnects, drops, kept := 0, uint64(0), 1.0
				for _, e := range r.Events {
					if e.Event == "disconnect" && e.T >= *r.Pushed {
						disconnects++
					}
				}
				for _, l := range r.Links {
					drops += l.InDropped
					if l.RateKept > 0 {
						kept = min(kept, l.RateKept)
					}
				}
				b.ReportMetric(*r.AllComplete, "s")
				b.ReportMetric(*r.AllComplete / *r.Multi, "x_multipath")
				b.ReportMetric(float64(disconnects), "false_disconnects")
				b.ReportMetric(float64(drops), "in_dropped")
				b.ReportMetric(kept, "worst_rate_kept")
				b.ReportMetric(machine.Seconds(), "machine_s")
			}
		})
	}
}
