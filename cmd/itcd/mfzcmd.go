package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/t2tiles/itcd/services/mfz"
	"github.com/t2tiles/itcd/services/mfz/dist"
	"github.com/t2tiles/itcd/tile"
)

func init() {
	register("keygen", "make an ed25519 signing key pair for MFZ files", cmdKeygen)
	register("pack", "make a signed MFZ file (or a signed tombstone)", cmdPack)
	register("verify", "check an MFZ file completely against trusted keys", cmdVerify)
	register("inspect", "show the header and manifest of an MFZ file", cmdInspect)
	register("unpack", "verify an MFZ file and write its payload", cmdUnpack)
}

// newFlagSet is the flag set of an MFZ command; its usage and errors go
// to stderr.
func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("itcd "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: itcd %s %s\n", name, usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseVersion accepts RFC 3339 or Unix seconds; "" means now.
func parseVersion(s string) (int64, error) {
	if s == "" {
		return time.Now().UnixNano(), nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > (1<<63-1)/int64(time.Second) || n < -(1<<63-1)/int64(time.Second) {
			return 0, fmt.Errorf("version %s: out of range", s)
		}
		return n * int64(time.Second), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("version %q: want RFC 3339 (2025-01-02T15:04:05Z) or Unix seconds", s)
	}
	return t.UnixNano(), nil
}

func formatVersion(v int64) string {
	return time.Unix(0, v).UTC().Format(time.RFC3339Nano)
}

func cmdKeygen(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("keygen", "NAME   (writes NAME.key, mode 0600, and NAME.pub)", stderr)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) != 1 {
		fs.Usage()
		return 2
	}
	name := pos[0]
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		fmt.Fprintf(stderr, "itcd keygen: %v\n", err)
		return 1
	}
	comment := filepath.Base(name)
	keyPath, pubPath := name+".key", name+".pub"
	for _, p := range []string{keyPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			fmt.Fprintf(stderr, "itcd keygen: %s exists; remove it or choose another NAME\n", p)
			return 1
		}
	}
	f, err := os.OpenFile(keyPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		_, err = f.Write(mfz.MarshalPrivateKey(priv, comment))
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = writeFileAtomic(pubPath, 0o644, func(w io.Writer) error {
			_, err := w.Write(mfz.MarshalPublicKey(pub, comment))
			return err
		})
	}
	if err != nil {
		os.Remove(keyPath)
		fmt.Fprintf(stderr, "itcd keygen: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s and %s, key id %s\n", keyPath, pubPath, mfz.KeyIDOf(pub))
	return 0
}

// writeFileAtomic writes path through a temporary file in the same
// directory: write, fsync, rename. On error nothing is left behind.
func writeFileAtomic(path string, mode os.FileMode, write func(w io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	err = write(f)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

func cmdPack(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("pack", "--key NAME.key --name NAME [--version TIME] IN OUT.mfz\n       itcd pack --key NAME.key --delete NAME [--version TIME] OUT.mfz", stderr)
	keyPath := fs.String("key", "", "signing key `file` (NAME.key)")
	name := fs.String("name", "", "file `name` in the manifest (default: base name of IN)")
	del := fs.String("delete", "", "make a signed tombstone deleting `NAME`")
	version := fs.String("version", "", "version: RFC 3339 time or Unix seconds (default now)")
	blockSize := fs.Int("block-size", 0, "body block `size` in bytes, a power of two (default automatic)")
	format := fs.Int("format", 0, "MFZ format `version` to write (default 3 for a file, 1 for a tombstone, which every itcd reads); 2 for grids with tiles older than format 3, 1 for tiles older than format 2")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return 2
	}
	want := 2
	if *del != "" {
		want = 1
	}
	if *keyPath == "" || len(pos) != want {
		fs.Usage()
		return 2
	}
	v, err := parseVersion(*version)
	if err != nil {
		fmt.Fprintf(stderr, "itcd pack: %v\n", err)
		return 2
	}
	key, err := mfz.ReadPrivateKeyFile(*keyPath)
	if err != nil {
		fmt.Fprintf(stderr, "itcd pack: %v\n", err)
		return 1
	}
	if *del != "" {
		b, m, err := mfz.NewTombstone(*del, v, key, *format)
		if err == nil {
			err = writeFileAtomic(pos[0], 0o644, func(w io.Writer) error { _, err := w.Write(b); return err })
		}
		if err != nil {
			fmt.Fprintf(stderr, "itcd pack: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s: tombstone for %s version %s, key %s\n", pos[0], m.Name, formatVersion(m.Version), m.KeyID)
		return 0
	}
	in, out := pos[0], pos[1]
	if *name == "" {
		*name = filepath.Base(in)
	}
	if err := mfz.CheckName(*name); err != nil {
		fmt.Fprintf(stderr, "itcd pack: %v (give --name)\n", err)
		return 2
	}
	// Pack sizes the xz dictionary from a regular file's length, stdin
	// redirected from one included.
	var src io.Reader = os.Stdin
	if in != "-" {
		f, err := os.Open(in)
		if err != nil {
			fmt.Fprintf(stderr, "itcd pack: %v\n", err)
			return 1
		}
		defer f.Close()
		src = f
	}
	var m *mfz.Manifest
	err = writeFileAtomic(out, 0o644, func(w io.Writer) error {
		var err error
		m, err = mfz.Pack(w, src, mfz.PackOptions{Name: *name, Version: v, Key: key,
			BlockSize: *blockSize, TempDir: filepath.Dir(out), Format: *format})
		return err
	})
	if err != nil {
		fmt.Fprintf(stderr, "itcd pack: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: %s version %s, %d bytes -> %d (%d blocks of %d), key %s, format %d\n", out, m.Name,
		formatVersion(m.Version), m.PayloadLen, m.BodyLen, m.BlockCount(), m.BlockSize, m.KeyID, m.FormatVersion())
	return 0
}

// defaultTrustDir is the trust dir of a daemon run with the default state
// dir, so `itcd verify FILE` on a tile checks against what the tile trusts.
var defaultTrustDir = dist.DefaultConfig().TrustDirIn(tile.DefaultConfig().StateDir)

// parseTrusted parses the arguments of a command that checks signatures
// (verify, unpack): the repeatable --trust flag and want positional
// arguments. A non-zero code is the exit status to return, the fault
// already printed.
func parseTrusted(name, usage string, want int, args []string, stderr io.Writer) (pos []string, trust *mfz.TrustSet, code int) {
	fs := newFlagSet(name, usage, stderr)
	var paths multiFlag
	fs.Var(&paths, "trust", "directory of trusted *.pub keys or one .pub file (repeatable; default $ITCD_MFZ_TRUST, else "+defaultTrustDir+")")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return nil, nil, 2
	}
	if len(pos) != want {
		fs.Usage()
		return nil, nil, 2
	}
	if trust, err = loadTrust(paths, stderr); err != nil {
		fmt.Fprintf(stderr, "itcd %s: %v\n", name, err)
		return nil, nil, 2
	}
	return pos, trust, 0
}

// loadTrust loads --trust paths, or $ITCD_MFZ_TRUST, or the tile's own
// trust dir when it exists; keys it skips are warned of on stderr.
func loadTrust(paths []string, stderr io.Writer) (*mfz.TrustSet, error) {
	if len(paths) == 0 {
		if env := os.Getenv("ITCD_MFZ_TRUST"); env != "" {
			paths = []string{env}
		} else if fi, err := os.Stat(defaultTrustDir); err == nil && fi.IsDir() {
			paths = []string{defaultTrustDir}
		}
	}
	if len(paths) == 0 {
		return nil, errors.New("no trusted keys: give --trust DIR|KEY.pub (or set ITCD_MFZ_TRUST; on a tile the default is " + defaultTrustDir + ")")
	}
	t, err := mfz.LoadTrust(func(p string, err error) {
		fmt.Fprintf(stderr, "warning: ignoring %s: %v\n", p, err)
	}, paths...)
	if err != nil {
		return nil, err
	}
	if t.Len() == 0 {
		return nil, fmt.Errorf("no trusted keys found in %s", strings.Join(paths, ", "))
	}
	return t, nil
}

func cmdVerify(args []string, stdout, stderr io.Writer) int {
	pos, trust, code := parseTrusted("verify", "[--trust DIR|KEY.pub]... FILE.mfz", 1, args, stderr)
	if code != 0 {
		return code
	}
	file, err := mfz.VerifyPath(pos[0], trust, nil)
	if err != nil {
		fmt.Fprintf(stderr, "itcd verify: %s: %v\n", pos[0], err)
		return 1
	}
	m := file.Manifest
	fmt.Fprintf(stdout, "%s: ok: %s %s version %s, %d bytes, key %s\n", pos[0], m.Kind, m.Name, formatVersion(m.Version), m.PayloadLen, m.KeyID)
	return 0
}

type inspectJSON struct {
	File          string `json:"file"`
	FormatVersion int    `json:"format_version"`
	Kind          string `json:"kind"`
	Name          string `json:"name"`
	Version       int64  `json:"version"`
	VersionTime   string `json:"version_time"`
	KeyID         string `json:"key_id"`
	PayloadLen    int64  `json:"payload_len"`
	BodyLen       int64  `json:"body_len"`
	BlockSize     int    `json:"block_size"`
	Blocks        int    `json:"blocks"`
	PayloadSHA256 string `json:"payload_sha256"`
	ManifestHash  string `json:"manifest_sha256"`
	ManifestLen   int    `json:"manifest_len"`
	BodyOffset    int64  `json:"body_offset"`
	FileLen       int64  `json:"file_len"`
	// Format 3: the hash list between the manifest and the body, and the
	// blocks it travels in (its pages, the file's first blocks), whose
	// hashes are then what block_sha256 lists.
	HashListLen int64    `json:"hash_list_len"`
	Pages       int      `json:"pages"`
	BlockSHA256 []string `json:"block_sha256"`
	Signature   string   `json:"signature_checked"`
}

func cmdInspect(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("inspect", "FILE.mfz [--json]   (does not check the signature; see itcd verify)", stderr)
	asJSON := fs.Bool("json", false, "print JSON, with every block hash")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) != 1 {
		fs.Usage()
		return 2
	}
	file, _, err := mfz.ReadFileAt(pos[0])
	if err != nil {
		fmt.Fprintf(stderr, "itcd inspect: %s: %v\n", pos[0], err)
		return 1
	}
	m := file.Manifest
	j := inspectJSON{File: pos[0], FormatVersion: m.FormatVersion(), Kind: m.Kind.String(), Name: m.Name,
		Version: m.Version, VersionTime: formatVersion(m.Version), KeyID: m.KeyID.String(),
		PayloadLen: m.PayloadLen, BodyLen: m.BodyLen, BlockSize: m.BlockSize, Blocks: m.BlockCount(),
		PayloadSHA256: m.PayloadHash.String(), ManifestHash: m.Hash().String(),
		ManifestLen: len(file.Signed) - mfz.SignatureLen, BodyOffset: file.BodyOffset + m.HashListLen(), FileLen: file.Size(),
		HashListLen: m.HashListLen(), Pages: m.Pages(), BlockSHA256: []string{}, Signature: "no"}
	for _, h := range m.BlockHashes {
		// Format 2 keeps the first 16 bytes of each block's SHA-256.
		j.BlockSHA256 = append(j.BlockSHA256, hex.EncodeToString(h[:m.BlockHashLen()]))
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(j); err != nil {
			return 1
		}
		return 0
	}
	fmt.Fprintf(stdout, "file:        %s (%d bytes, format version %d)\n", j.File, j.FileLen, j.FormatVersion)
	fmt.Fprintf(stdout, "kind:        %s\n", j.Kind)
	fmt.Fprintf(stdout, "name:        %s\n", j.Name)
	fmt.Fprintf(stdout, "version:     %d (%s)\n", j.Version, j.VersionTime)
	fmt.Fprintf(stdout, "key id:      %s\n", j.KeyID)
	if m.Kind == mfz.KindFile {
		fmt.Fprintf(stdout, "payload:     %d bytes, sha256 %s\n", j.PayloadLen, j.PayloadSHA256)
		if j.Pages > 0 {
			fmt.Fprintf(stdout, "hash list:   %d bytes at offset %d, in %d pages (blocks 0-%d)\n", j.HashListLen, file.BodyOffset, j.Pages, j.Pages-1)
		}
		fmt.Fprintf(stdout, "body:        %d bytes at offset %d, %d blocks of %d\n", j.BodyLen, j.BodyOffset, j.Blocks-j.Pages, j.BlockSize)
	}
	fmt.Fprintf(stdout, "manifest:    %d bytes, sha256 %s\n", j.ManifestLen, j.ManifestHash)
	fmt.Fprintf(stdout, "signature:   not checked (run itcd verify)\n")
	return 0
}

func cmdUnpack(args []string, stdout, stderr io.Writer) int {
	pos, trust, code := parseTrusted("unpack", "[--trust DIR|KEY.pub]... FILE.mfz OUT", 2, args, stderr)
	if code != 0 {
		return code
	}
	in, out := pos[0], pos[1]
	var file *mfz.File
	err := writeFileAtomic(out, 0o644, func(w io.Writer) error {
		var err error
		file, err = mfz.VerifyPath(in, trust, w)
		if err == nil && file.Manifest.IsTombstone() {
			err = fmt.Errorf("%w deleting %s: it has no payload", mfz.ErrTombstone, file.Manifest.Name)
		}
		return err
	})
	if err != nil {
		fmt.Fprintf(stderr, "itcd unpack: %s: %v\n", in, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: %s version %s, %d bytes written to %s\n", in, file.Manifest.Name, formatVersion(file.Manifest.Version), file.Manifest.PayloadLen, out)
	return 0
}
