package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/t2tiles/itcd/p2p"
)

// loadIdentity reads the tile identity from path, creating a random one on
// first start. The write is atomic so a power cut never leaves half an id.
func loadIdentity(path string) (p2p.TileID, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		id, perr := p2p.ParseTileID(string(b))
		if perr == nil && id.IsZero() {
			perr = errors.New("all zero, which no neighbour accepts")
		}
		if perr != nil {
			return id, fmt.Errorf("tile identity in %s is damaged (%v): remove the file to make a new one", path, perr)
		}
		return id, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return p2p.TileID{}, fmt.Errorf("tile identity: %w", err)
	}
	id, err := p2p.NewTileID()
	if err != nil {
		return id, fmt.Errorf("tile identity: %w", err)
	}
	if err := writeFileAtomic(path, []byte(id.String()+"\n"), 0o644); err != nil {
		return id, fmt.Errorf("tile identity: %w", err)
	}
	return id, nil
}

// writeFileAtomic writes data to a temporary file beside path, syncs it and
// renames it over path, so readers see the old file or the new, never half.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, mode)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if d, derr := os.Open(filepath.Dir(path)); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
