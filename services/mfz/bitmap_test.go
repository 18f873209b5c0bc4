package mfz

import "testing"

func TestBitmap(t *testing.T) {
	for _, c := range []struct {
		name   string
		blocks int
		set    []int // Set in order
		clear  []int // then Cleared
		has    []int // what it then holds, in order
		countN int
		count  int
	}{
		{"empty", 0, []int{0, 1, -1}, nil, nil, 8, 0},
		{"one", 1, []int{0}, nil, []int{0}, 1, 1},
		{"outside ignored", 9, []int{-1, 8, 16, 1 << 30}, nil, []int{8}, 9, 1},
		{"cleared", 16, []int{0, 7, 8, 15}, []int{7, 8, -3, 99}, []int{0, 15}, 16, 2},
		{"count below n", 20, []int{0, 3, 8, 9, 17, 19}, nil, []int{0, 3, 8, 9, 17, 19}, 18, 5},
		{"count past the end", 12, []int{1, 11}, nil, []int{1, 11}, 1000, 2},
		{"count of nothing", 12, []int{1, 11}, nil, []int{1, 11}, -5, 0},
		{"count whole bytes", 4096, []int{0, 4095, 2048}, nil, []int{0, 2048, 4095}, 4096, 3},
	} {
		b := NewBitmap(c.blocks)
		if len(b) != (c.blocks+7)/8 {
			t.Errorf("%s: %d bytes for %d blocks", c.name, len(b), c.blocks)
		}
		for _, i := range c.set {
			b.Set(i)
		}
		for _, i := range c.clear {
			b.Clear(i)
		}
		var has []int
		for i := -8; i < 8*len(b)+8; i++ {
			if b.Has(i) {
				has = append(has, i)
			}
		}
		if len(has) != len(c.has) {
			t.Errorf("%s: holds %v, want %v", c.name, has, c.has)
		} else {
			for i := range has {
				if has[i] != c.has[i] {
					t.Errorf("%s: holds %v, want %v", c.name, has, c.has)
					break
				}
			}
		}
		if got := b.Count(c.countN); got != c.count {
			t.Errorf("%s: Count(%d) = %d, want %d", c.name, c.countN, got, c.count)
		}
		if b.Empty() != (len(c.has) == 0) {
			t.Errorf("%s: Empty() = %v holding %v", c.name, b.Empty(), c.has)
		}
	}
}
