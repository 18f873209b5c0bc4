package mfz

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// What Open finds on disk: tombstones in tomb/, files in live/ (known
// ones checked cheaply, the rest adopted), and bad files moved aside to
// rejected/ with the reason beside them.

// scanTomb registers the tombstones in tomb/.
func (s *Store) scanTomb() {
	ents, _ := os.ReadDir(s.tomb)
	for _, de := range ents {
		p := filepath.Join(s.tomb, de.Name())
		f, fi, file, err := s.openChecked(p)
		if err == nil {
			f.Close()
			if !file.Manifest.IsTombstone() || file.Manifest.Name != de.Name() {
				err = fmt.Errorf("%w: not the tombstone of %q", ErrMalformed, de.Name())
			}
		}
		if err != nil {
			s.moveAside(p, de.Name(), err)
			continue
		}
		s.mu.Lock()
		s.registerLocked(p, nil, fi, file)
		s.mu.Unlock()
	}
}

// openChecked opens an MFZ file and checks its header, manifest, size and
// signature (not its body). A file whose signer is no longer trusted
// passes unchecked: it was verified when installed, and List hides it
// until its key is trusted again.
func (s *Store) openChecked(p string) (*os.File, os.FileInfo, *File, error) {
	f, fi, err := openOwn(p, os.O_RDONLY)
	if err != nil {
		return nil, nil, nil, err
	}
	file, err := ReadFile(f, fi.Size())
	if err == nil {
		if _, trusted := s.trust.Lookup(file.Manifest.KeyID); trusted {
			_, err = VerifySignedManifest(file.Signed, s.trust)
		}
	}
	if err != nil {
		f.Close()
		return nil, nil, nil, err
	}
	return f, fi, file, nil
}

// scanLive registers the files in live/. A file whose identity matches
// the record of its install is trusted after a signature check; any other
// file is verified completely and installed or moved aside.
func (s *Store) scanLive() {
	ents, _ := os.ReadDir(s.live)
	for _, de := range ents {
		p := filepath.Join(s.live, de.Name())
		if strings.HasPrefix(de.Name(), ".") {
			continue
		}
		f, fi, file, err := s.openChecked(p)
		if err == nil {
			h := manifestHash(file.Signed)
			s.mu.Lock()
			r, ok := s.seen[de.Name()]
			known := ok && file.Manifest.Name == de.Name() && !file.Manifest.IsTombstone() &&
				r.Hash == hex.EncodeToString(h[:]) && r.File == identOf(fi)
			if known {
				s.registerLocked(p, f, fi, file)
			}
			s.mu.Unlock()
			if known {
				continue
			}
			f.Close()
		}
		s.adopt(s.ctx, p)
	}
}

// moveAside moves a bad file to rejected/ with a .reason file, and logs it.
func (s *Store) moveAside(p, base string, reason error) {
	dst := filepath.Join(s.rejected, fmt.Sprintf("%s.%d", strings.TrimLeft(base, "."), time.Now().UnixNano()))
	if err := os.Rename(p, dst); err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			s.log.Error("mfz cannot move bad file aside; removing it", "path", p, "reason", reason, "err", err)
			os.Remove(p)
		}
		return
	}
	syncDir(filepath.Dir(p))
	// Atomically: whoever sees the reason file sees all of it.
	if err := s.writeFileAtomic(dst+".reason", []byte(reason.Error()+"\n"), "reason"); err != nil {
		s.log.Error("mfz cannot write the reason beside a rejected file", "path", dst, "err", err)
	}
	s.log.Warn("mfz file rejected and moved aside", "path", p, "to", dst, "reason", reason)
}
