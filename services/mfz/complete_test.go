package mfz

import (
	"crypto/sha256"
	"errors"
	"testing"
)

// TestCompleteRefusesHugeDictionary: a received file whose every block
// matches but whose body asks for a dictionary past MaxDictCap is the
// signer's fault: dropped, and its manifest refused from then on.
func TestCompleteRefusesHugeDictionary(t *testing.T) {
	e := newStoreEnv(t)
	s := e.open()
	payload := []byte("abcd")
	m := Manifest{Kind: KindFile, Name: "dict.bin", Version: 5, BlockSize: MinBlockSize,
		PayloadLen: int64(len(payload)), PayloadHash: sha256.Sum256(payload)}
	file, blocks := blocksOf(t, writeTemp(t, "dict.mfz", buildFile(t, m, rawXZ(payload, dictByte(30)), e.priv)))
	p, err := s.Begin(file.Signed)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range blocks {
		if err := p.PutBlock(i, b); err != nil {
			t.Fatal(err)
		}
	}
	err = p.Complete()
	if !errors.Is(err, ErrTooLarge) || Classify(err) != FaultData {
		t.Fatalf("Complete = %v (fault %v), want ErrTooLarge, the file's fault", err, Classify(err))
	}
	if len(s.Partials()) != 0 {
		t.Fatal("the partial of a refused file is kept")
	}
	if _, err := s.Begin(file.Signed); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Begin again = %v, want the refusal", err)
	}
}
