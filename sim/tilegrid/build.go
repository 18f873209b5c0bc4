package tilegrid

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/itc/packet"
)

// Building a grid: every tile's port bound and directories made before any
// tile starts, so each tile's link map is known, and Dir/grid.json written
// for tools that look at the grid from outside.

// build binds every port and makes every tile's directories.
func (g *Grid) build() error {
	geo := g.cfg.Geometry
	for i, c := range geo.Coords() {
		t := &Tile{
			Coord: c,
			Name:  c.Name(),
			Dir:   filepath.Join(g.dir, c.Name()),
			Links: geo.Links(c),
			MFZID: g.cfg.mfzidOf(c),
			g:     g,
			seed:  tileSeed(g.cfg.Seed, i),
		}
		t.RunDir = filepath.Join(t.Dir, "run")
		t.StateDir = filepath.Join(t.Dir, "state")
		if n := len(filepath.Join(t.RunDir, control.ControlSocket)); n > 104 {
			return fmt.Errorf("tilegrid: socket path %s is %d bytes, too long for a unix socket: use a shorter --dir", filepath.Join(t.RunDir, control.ControlSocket), n)
		}
		for _, d := range packet.Links {
			t.profiles[d] = g.cfg.Profile
		}
		conn, err := bindPort()
		if err != nil {
			return fmt.Errorf("tilegrid: binding %s: %w", t.Name, err)
		}
		t.Addr = conn.LocalAddr().String()
		t.sock, err = conn.File() // a copy that keeps the port bound
		conn.Close()
		if err != nil {
			return fmt.Errorf("tilegrid: binding %s: %w", t.Name, err)
		}
		g.tiles = append(g.tiles, t)
	}
	for _, t := range g.tiles {
		if err := os.MkdirAll(t.StateDir, 0o755); err != nil {
			return fmt.Errorf("tilegrid: %w", err)
		}
		cfg := g.tileConfig(t)
		trust := cfg.MFZ.TrustDirIn(cfg.StateDir)
		for _, k := range g.cfg.Trust {
			if err := copyFile(k, filepath.Join(trust, filepath.Base(k))); err != nil {
				return fmt.Errorf("tilegrid: trusting %s: %w", k, err)
			}
		}
	}
	return g.writeManifest()
}

// writeManifest writes Dir/grid.json: the tiles, their addresses and dirs,
// for tools that look at a running simulation from outside.
func (g *Grid) writeManifest() error {
	type mtile struct {
		Name     string            `json:"name"`
		X        int               `json:"x"`
		Y        int               `json:"y"`
		Addr     string            `json:"addr"`
		RunDir   string            `json:"run_dir"`
		StateDir string            `json:"state_dir"`
		Links    map[string]string `json:"links"`
		MFZID    string            `json:"mfzid"` // its physics identity
	}
	m := struct {
		Grid  string  `json:"grid"`
		Procs bool    `json:"procs"`
		Seed  int64   `json:"seed"`
		Tiles []mtile `json:"tiles"`
	}{Grid: g.cfg.Geometry.String(), Procs: g.cfg.Procs, Seed: g.cfg.Seed}
	for _, t := range g.tiles {
		mt := mtile{Name: t.Name, X: t.Coord.X, Y: t.Coord.Y, Addr: t.Addr, RunDir: t.RunDir, StateDir: t.StateDir, Links: map[string]string{}, MFZID: t.MFZID}
		for _, l := range t.Links {
			mt.Links[l.Dir.String()] = l.To.Name()
		}
		m.Tiles = append(m.Tiles, mt)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(g.dir, "grid.json"), append(b, '\n'), 0o644)
}

// copyFile copies src to dst, making dst's directory.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if fi, err := in.Stat(); err != nil {
		return err
	} else if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", src)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
