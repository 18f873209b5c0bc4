package mfz

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// Writing files durably: through tmp/, fsynced, renamed into place, with
// the test hook that plays a full disk.

// spool creates a file in tmp/ (named after pattern, as os.CreateTemp),
// writes it through the fault hook with write, and fsyncs it. It returns
// the file open; on error nothing is left behind.
func (s *Store) spool(pattern, op string, write func(w io.Writer) error) (*os.File, error) {
	f, err := os.CreateTemp(s.tmp, pattern)
	if err != nil {
		return nil, err
	}
	err = write(&faultWriter{w: f, s: s, op: op})
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return f, nil
}

// writeFileAtomic writes a small file through tmp/: write, fsync, rename,
// fsync the directory.
func (s *Store) writeFileAtomic(path string, b []byte, op string) error {
	tmp, err := s.spoolBytes(b, op)
	if err == nil {
		if err = os.Rename(tmp, path); err != nil {
			os.Remove(tmp)
		}
	}
	if err != nil {
		return fmt.Errorf("mfz: writing %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

// spoolBytes writes b to a new file in tmp/, fsynced and closed, and
// returns its path: the first half of writeFileAtomic, for a caller that
// renames it under its own lock.
func (s *Store) spoolBytes(b []byte, op string) (string, error) {
	f, err := s.spool("w-*", op, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
	if err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

func syncDir(dir string) error {
	// O_DIRECTORY: whatever replaced a directory is refused, not opened.
	d, err := os.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}

type faultWriter struct {
	w  io.Writer
	s  *Store
	op string
}

func (w *faultWriter) Write(b []byte) (int, error) {
	if w.s.fault != nil {
		if err := w.s.fault(w.op); err != nil {
			return 0, err
		}
	}
	return w.w.Write(b)
}
