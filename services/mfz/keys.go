package mfz

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// Key file formats (one line of text each, see notes/protocol.md):
//
//	NAME.pub: "itcd-ed25519-public <base64 32-byte key> [comment]\n"
//	NAME.key: "itcd-ed25519-private <base64 32-byte seed> [comment]\n" (mode 0600)
const (
	publicKeyTag  = "itcd-ed25519-public"
	privateKeyTag = "itcd-ed25519-private"
	maxKeyFileLen = 4096
)

// KeyIDOf returns the key id of an ed25519 public key.
func KeyIDOf(pub ed25519.PublicKey) KeyID {
	var id KeyID
	sum := sha256.Sum256(pub)
	copy(id[:], sum[:])
	return id
}

// MarshalPublicKey returns the text of a .pub file for pub.
func MarshalPublicKey(pub ed25519.PublicKey, comment string) []byte {
	return keyLine(publicKeyTag, pub, comment)
}

// MarshalPrivateKey returns the text of a .key file holding the seed of priv.
func MarshalPrivateKey(priv ed25519.PrivateKey, comment string) []byte {
	return keyLine(privateKeyTag, priv.Seed(), comment)
}

func keyLine(tag string, key []byte, comment string) []byte {
	comment = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, comment)
	s := tag + " " + base64.StdEncoding.EncodeToString(key)
	if comment != "" {
		s += " " + comment
	}
	return []byte(s + "\n")
}

func parseKeyLine(b []byte, tag string) ([]byte, error) {
	if len(b) > maxKeyFileLen {
		return nil, fmt.Errorf("%w: %d bytes, a key file is one short line", ErrKey, len(b))
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 2 || f[0] != tag {
		return nil, fmt.Errorf("%w: want a line starting %q", ErrKey, tag)
	}
	k, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil || len(k) != 32 {
		return nil, fmt.Errorf("%w: key is not 32 bytes of base64", ErrKey)
	}
	return k, nil
}

// ParsePublicKey parses the text of a .pub file.
func ParsePublicKey(b []byte) (ed25519.PublicKey, error) {
	k, err := parseKeyLine(b, publicKeyTag)
	if err != nil {
		return nil, err
	}
	return ed25519.PublicKey(k), nil
}

// ParsePrivateKey parses the text of a .key file.
func ParsePrivateKey(b []byte) (ed25519.PrivateKey, error) {
	k, err := parseKeyLine(b, privateKeyTag)
	if err != nil {
		return nil, err
	}
	return ed25519.NewKeyFromSeed(k), nil
}

// readSmall reads a key file, following a link; a named pipe or other
// special file is refused (ErrNotRegular) without being waited on.
func readSmall(path string) ([]byte, error) {
	f, _, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxKeyFileLen+1))
}

// ReadPublicKeyFile reads a .pub file.
func ReadPublicKeyFile(path string) (ed25519.PublicKey, error) {
	b, err := readSmall(path)
	if err != nil {
		return nil, err
	}
	k, err := ParsePublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// ReadPrivateKeyFile reads a .key file.
func ReadPrivateKeyFile(path string) (ed25519.PrivateKey, error) {
	b, err := readSmall(path)
	if err != nil {
		return nil, err
	}
	k, err := ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// TrustSet is a set of trusted ed25519 public keys indexed by key id. It is
// safe for concurrent use; the store replaces its contents when the trust
// directory changes.
type TrustSet struct {
	mu   sync.RWMutex
	keys map[KeyID]ed25519.PublicKey
}

// NewTrustSet returns a trust set holding keys.
func NewTrustSet(keys ...ed25519.PublicKey) *TrustSet {
	t := &TrustSet{keys: map[KeyID]ed25519.PublicKey{}}
	for _, k := range keys {
		t.Add(k)
	}
	return t
}

// Add trusts pub.
func (t *TrustSet) Add(pub ed25519.PublicKey) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.keys == nil {
		t.keys = map[KeyID]ed25519.PublicKey{}
	}
	t.keys[KeyIDOf(pub)] = append(ed25519.PublicKey(nil), pub...)
}

// Lookup returns the trusted key with id.
func (t *TrustSet) Lookup(id KeyID) (ed25519.PublicKey, bool) {
	if t == nil {
		return nil, false
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	k, ok := t.keys[id]
	return k, ok
}

// IDs returns the ids of the trusted keys, sorted.
func (t *TrustSet) IDs() []KeyID {
	t.mu.RLock()
	defer t.mu.RUnlock()
	ids := make([]KeyID, 0, len(t.keys))
	for id := range t.keys {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return bytes.Compare(ids[i][:], ids[j][:]) < 0 })
	return ids
}

// Len returns the number of trusted keys.
func (t *TrustSet) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.keys)
}

// replace makes t hold exactly the keys of u.
func (t *TrustSet) replace(u *TrustSet) {
	u.mu.RLock()
	keys := make(map[KeyID]ed25519.PublicKey, len(u.keys))
	for id, k := range u.keys {
		keys[id] = k
	}
	u.mu.RUnlock()
	t.mu.Lock()
	t.keys = keys
	t.mu.Unlock()
}

// LoadTrust reads trusted keys from each path: a directory (every *.pub
// file in it; other files are ignored) or a single .pub file. A missing
// directory is an error; an unreadable .pub file in a directory is reported
// through bad and skipped so one broken file does not revoke every key.
func LoadTrust(bad func(path string, err error), paths ...string) (*TrustSet, error) {
	t := NewTrustSet()
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			k, err := ReadPublicKeyFile(p)
			if err != nil {
				return nil, err
			}
			t.Add(k)
			continue
		}
		files, err := filepath.Glob(filepath.Join(p, "*.pub"))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			k, err := ReadPublicKeyFile(f)
			if err != nil {
				if bad != nil {
					bad(f, err)
				}
				continue
			}
			t.Add(k)
		}
	}
	return t, nil
}

// signedBytes returns the message an MFZ signature covers.
func signedBytes(manifest []byte) []byte {
	msg := make([]byte, 0, len(signContext)+len(manifest))
	return append(append(msg, signContext...), manifest...)
}

// Sign marshals m, signed with priv, into a signed manifest: the manifest
// bytes followed by the 64-byte signature. It sets m.KeyID from priv.
func Sign(m *Manifest, priv ed25519.PrivateKey) ([]byte, error) {
	m.KeyID = KeyIDOf(priv.Public().(ed25519.PublicKey))
	b, err := m.MarshalBinary()
	if err != nil {
		return nil, err
	}
	sig := ed25519.Sign(priv, signedBytes(b))
	return append(b, sig...), nil
}

// SplitSignedManifest splits a signed manifest into manifest and signature
// without checking either.
func SplitSignedManifest(raw []byte) (manifest, sig []byte, err error) {
	if len(raw) > MaxSignedManifestLen {
		return nil, nil, fmt.Errorf("%w: signed manifest is %d bytes, limit %d", ErrTooLarge, len(raw), MaxSignedManifestLen)
	}
	if len(raw) < MinManifestLen+SignatureLen {
		return nil, nil, fmt.Errorf("%w: signed manifest is %d bytes, at least %d needed", ErrTruncated, len(raw), MinManifestLen+SignatureLen)
	}
	n := len(raw) - SignatureLen
	return raw[:n], raw[n:], nil
}

// VerifySignedManifest parses a signed manifest (manifest || signature, as
// it travels first over the wire) and checks that a key in trust signed it.
func VerifySignedManifest(raw []byte, trust *TrustSet) (*Manifest, error) {
	mb, sig, err := SplitSignedManifest(raw)
	if err != nil {
		return nil, err
	}
	m, err := ParseManifest(mb)
	if err != nil {
		return nil, err
	}
	pub, ok := trust.Lookup(m.KeyID)
	if !ok {
		return m, fmt.Errorf("%w %s: add its .pub file to the trust directory if you trust the signer", ErrUntrusted, m.KeyID)
	}
	if !ed25519.Verify(pub, signedBytes(mb), sig) {
		return m, fmt.Errorf("%w (key %s): the manifest or signature was altered", ErrSignature, m.KeyID)
	}
	return m, nil
}
