package mfz

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Completing a partial: the whole-file check, then the cut-over into
// live/.

// Complete verifies the whole received file (bounded decompression and
// payload hash), renames it into live/, runs the hooks and removes
// partials of older versions. It returns ErrIncomplete while blocks are
// missing. If the body is bad although every block matched (the signer
// made a bad file), the partial is dropped and its manifest refused from
// then on. Calling Complete again after success returns nil.
func (p *Partial) Complete() error { return p.CompleteContext(context.Background()) }

// CompleteContext is Complete that gives up when ctx ends: verifying a
// large file takes minutes on a tile, longer than a daemon may take to
// stop. A check that was cancelled, or that could not read or record the
// file or rename it into live/ (a *StorageError), keeps the partial with
// every verified block, to complete later.
func (p *Partial) CompleteContext(ctx context.Context) error {
	p.mu.Lock()
	switch p.state {
	case partialDone:
		p.mu.Unlock()
		return nil
	case partialActive:
	default:
		p.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrDone, p.key)
	}
	if missing := p.m.BlockCount() - p.nhave; missing > 0 {
		p.mu.Unlock()
		return fmt.Errorf("%w: %d of %d blocks of %s", ErrIncomplete, missing, p.m.BlockCount(), p.key)
	}
	if err := p.syncLocked(); err != nil {
		p.mu.Unlock()
		return err
	}
	p.state = partialCompleting
	f := p.f
	p.mu.Unlock()

	verr := p.s.checkRegion(ctx, f, p.bodyOff, p.m)

	s := p.s
	s.mu.Lock()
	defer s.mu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != partialCompleting {
		return fmt.Errorf("%w: %s was abandoned", ErrDone, p.key)
	}
	if verr != nil {
		// Every block matched its signed hash, so a payload that does not
		// decompress to the signed one, or a body that asks for more
		// memory than a tile allows, is the signer's fault and no fetch
		// can mend it: refuse this manifest from now on.
		contentFault := errors.Is(verr, ErrPayload) || errors.Is(verr, ErrMalformed) || errors.Is(verr, ErrTooLarge)
		if contentFault {
			s.bad[p.hash] = fmt.Errorf("%w (signed manifest %s refused)", verr, p.key)
		}
		var be *BlockError
		if !contentFault && !errors.As(verr, &be) {
			// Cancelled, or the disk failed a read: that says nothing
			// about the file. Keep every verified block.
			p.state = partialActive
			if osFailure(verr) {
				return storageErr("final check of "+p.key+" (its blocks are kept)", filepath.Join(p.dir, "file"), verr)
			}
			return fmt.Errorf("mfz: final check of %s stopped (its blocks are kept): %w", p.key, verr)
		}
		p.endLocked(partialDropped)
		s.forgetPartialLocked(p.key, p, verr.Error())
		return verr
	}
	file := &File{Manifest: p.m, Signed: p.signed, BodyOffset: p.bodyOff}
	// commitLocked renames the file out of the partial directory. It drops
	// every partial of this file it finds, and p's lock is held: take p
	// out of s.partials first.
	delete(s.partials, p.key)
	if _, err := s.commitLocked(filepath.Join(p.dir, "file"), f, file, false); err != nil {
		var le *os.LinkError
		if errors.As(err, &le) {
			// The rename into live/ failed (no room for the entry, a
			// read-only file system): keep the partial, listed again so
			// that it is closed, found and dropped like any other.
			p.state = partialActive
			s.partials[p.key] = p
			return storageErr("installing "+p.key+" (its blocks are kept)", s.live, le)
		}
		p.endLocked(partialDropped)
		s.forgetPartialLocked(p.key, p, err.Error())
		return err
	}
	p.f = nil // now owned by the live entry
	p.state = partialDone
	delete(s.partials, p.key)
	s.removeDirLocked(p.dir)
	return nil
}
