package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/t2tiles/itcd/itc/dev"
)

// shapeFlags are the link-shape flags `itcd run` and `itcd sim` share:
// rate, delay, loss, duplication, corruption and the seed of the
// impairments. Each one given replaces its setting; the others keep
// theirs (udp.shape and udp.seed of the config file, or the simulator's
// defaults).
type shapeFlags struct {
	fs      *flag.FlagSet
	rate    string
	delay   time.Duration
	loss    float64
	dup     float64
	corrupt float64
	seed    int64
}

// addShapeFlags defines the flags on fs; def and seed are the values
// they stand for when not given, shown in the help.
func addShapeFlags(fs *flag.FlagSet, def dev.LinkProfile, seed int64) *shapeFlags {
	s := &shapeFlags{fs: fs}
	rate := "0 (unlimited)"
	if def.Rate > 0 {
		rate = fmt.Sprint(def.Rate)
	}
	fs.StringVar(&s.rate, "rate", "", "link rate in bytes/s: 65536, 64KB/s, 512kbit; 0 = unlimited (default "+rate+")")
	fs.DurationVar(&s.delay, "delay", def.Delay, "one-way link delay")
	fs.Float64Var(&s.loss, "loss", def.Loss, "packet loss probability 0..1, per link direction")
	fs.Float64Var(&s.dup, "dup", def.Duplicate, "packet duplication probability 0..1")
	fs.Float64Var(&s.corrupt, "corrupt", def.Corrupt, "packet corruption probability 0..1 (flips bits)")
	fs.Int64Var(&s.seed, "seed", seed, "seed of the link impairments, so a run repeats")
	return s
}

// apply writes the flags that were given into p and seed and checks the
// profile that results.
func (s *shapeFlags) apply(p *dev.LinkProfile, seed *int64) error {
	var err error
	s.fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "rate":
			if p.Rate, err = parseRate(s.rate); err != nil {
				err = fmt.Errorf("--rate: %w", err)
			}
		case "delay":
			p.Delay = s.delay
		case "loss":
			p.Loss = s.loss
		case "dup":
			p.Duplicate = s.dup
		case "corrupt":
			p.Corrupt = s.corrupt
		case "seed":
			*seed = s.seed
		}
	})
	if err != nil {
		return err
	}
	return p.Validate()
}
