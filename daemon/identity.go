package daemon

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/t2tiles/itcd/p2p"
)

// The tile's identity comes from its signing key (p2p.IdentityOf), kept in
// STATE_DIR/tile-key (the 32-byte Ed25519 seed in hex, readable by root
// only). STATE_DIR/tile-id holds the identity in hex for people and tools.
const (
	keyFile      = "tile-key"
	identityFile = "tile-id"
)

// Key is the tile's signing key.
type Key struct {
	Private ed25519.PrivateKey
	// Was is the identity tile-id held before, when it was not the one
	// the key gives (an itcd from before identities came from keys): the
	// tile's identity changed, once.
	Was p2p.TileID
}

// LoadKey reads the tile's key from stateDir, making one (and the dir)
// on first start. Writes are atomic, so a power cut never leaves half a
// key.
func LoadKey(stateDir string) (Key, error) {
	kpath, ipath := filepath.Join(stateDir, keyFile), filepath.Join(stateDir, identityFile)
	var k Key
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return k, fmt.Errorf("state dir: %w", err)
	}
	b, err := os.ReadFile(kpath)
	switch {
	case err == nil:
		seed, derr := hex.DecodeString(strings.TrimSpace(string(b)))
		if derr != nil || len(seed) != ed25519.SeedSize {
			return k, fmt.Errorf("tile key in %s is damaged: remove it to make a new one (the tile's identity will change)", kpath)
		}
		k.Private = ed25519.NewKeyFromSeed(seed)
	case errors.Is(err, os.ErrNotExist):
		_, priv, gerr := ed25519.GenerateKey(rand.Reader)
		if gerr != nil {
			return k, fmt.Errorf("tile key: %w", gerr)
		}
		if werr := writeFileAtomic(kpath, []byte(hex.EncodeToString(priv.Seed())+"\n"), 0o600); werr != nil {
			return k, fmt.Errorf("tile key: %w", werr)
		}
		k.Private = priv
	default:
		return k, fmt.Errorf("tile key: %w", err)
	}
	id := k.ID()
	if b, err := os.ReadFile(ipath); err == nil {
		if old, perr := p2p.ParseTileID(string(b)); perr == nil && old == id {
			return k, nil
		} else if perr == nil {
			k.Was = old
		}
	}
	if err := writeFileAtomic(ipath, []byte(id.String()+"\n"), 0o644); err != nil {
		return k, fmt.Errorf("tile identity: %w", err)
	}
	return k, nil
}

// ID is the tile's identity, which comes from its key (p2p.IdentityOf).
func (k Key) ID() p2p.TileID { return p2p.IdentityOf(k.Private.Public().(ed25519.PublicKey)) }

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
