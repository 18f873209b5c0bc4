package mfz

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Hook is a command run after a new version of a matching name is cut
// over, for example to restart mfmt2 on new physics. The command runs via
// /bin/sh -c with ITCD_MFZ_PATH (the MFZ file in live/), ITCD_MFZ_NAME,
// ITCD_MFZ_VERSION (Unix nanoseconds) and ITCD_MFZ_TRUST (the trust
// directory, for `itcd unpack --trust`) in its environment, and
// ITCD_MFZ_DELETED=1 when a tombstone deleted the name (ITCD_MFZ_PATH then
// names the removed file). Hooks run one at a time, in install order,
// without blocking the install; output and exit status are logged.
type Hook struct {
	Pattern string        // path.Match glob on the name, e.g. "*.mfz"
	Command string        // shell command
	Timeout time.Duration // 0 means DefaultHookTimeout
}

// DefaultHookTimeout bounds a hook without its own Timeout.
const DefaultHookTimeout = 60 * time.Second

// maxHookOutput bounds the hook output kept for the log.
const maxHookOutput = 16 << 10

type hookJob struct {
	hook  Hook
	entry Entry
	path  string
}

func (s *Store) queueHooksLocked(e Entry) {
	p := filepath.Join(s.live, e.Name)
	for _, h := range s.cfg.Hooks {
		if ok, _ := path.Match(h.Pattern, e.Name); ok {
			s.hookQ = append(s.hookQ, hookJob{hook: h, entry: e, path: p})
		}
	}
	if len(s.hookQ) > 0 && !s.hookBusy && !s.closed {
		s.hookBusy = true
		s.wg.Add(1)
		go s.runHooks()
	}
}

// runHooks drains the hook queue and exits; Close cancels it.
func (s *Store) runHooks() {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		if len(s.hookQ) == 0 || s.ctx.Err() != nil {
			if n := len(s.hookQ); n > 0 {
				s.log.Warn("mfz hooks not run: store closed", "count", n)
			}
			s.hookQ, s.hookBusy = nil, false
			s.mu.Unlock()
			return
		}
		j := s.hookQ[0]
		s.hookQ = s.hookQ[1:]
		s.mu.Unlock()
		s.runHook(j)
	}
}

type limitedBuffer struct {
	bytes.Buffer
	dropped int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if room := maxHookOutput - b.Len(); room < len(p) {
		b.dropped += len(p) - max(room, 0)
		p = p[:max(room, 0)]
	}
	b.Buffer.Write(p)
	return n, nil
}

func (s *Store) runHook(j hookJob) {
	timeout := j.hook.Timeout
	if timeout <= 0 {
		timeout = DefaultHookTimeout
	}
	ctx, cancel := context.WithTimeout(s.ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", j.hook.Command)
	cmd.Env = append(os.Environ(),
		"ITCD_MFZ_PATH="+j.path,
		"ITCD_MFZ_NAME="+j.entry.Name,
		"ITCD_MFZ_VERSION="+strconv.FormatInt(j.entry.Version, 10),
		"ITCD_MFZ_TRUST="+s.trustDir,
	)
	if j.entry.Deleted {
		cmd.Env = append(cmd.Env, "ITCD_MFZ_DELETED=1")
	}
	var out limitedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Own process group, so a timeout kills the shell's children too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	start := time.Now()
	err := cmd.Run()
	attrs := []any{"name", j.entry.Name, "version", j.entry.Version, "pattern", j.hook.Pattern,
		"command", j.hook.Command, "elapsed", time.Since(start).Round(time.Millisecond).String(),
		"output", out.String()}
	if out.dropped > 0 {
		attrs = append(attrs, "output_dropped", out.dropped)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		s.log.Info("mfz hook ok", append(attrs, "exit", 0)...)
	case ctx.Err() != nil && s.ctx.Err() == nil:
		s.log.Error("mfz hook timed out and was killed", append(attrs, "timeout", timeout.String())...)
	case s.ctx.Err() != nil:
		s.log.Warn("mfz hook killed: store closed", attrs...)
	case errors.As(err, &ee):
		s.log.Error("mfz hook failed", append(attrs, "exit", ee.ExitCode(), "err", err)...)
	default:
		s.log.Error("mfz hook could not run", append(attrs, "err", err)...)
	}
}
