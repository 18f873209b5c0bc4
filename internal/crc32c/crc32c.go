// Package crc32c is the CRC-32C (Castagnoli) trailer that tube (service
// 9) and route (service 10) messages end with: four bytes, big-endian, of
// the CRC of every byte before them. T2 links can flip bits without
// saying so, and a message whose trailer does not match is dropped like
// a lost one.
package crc32c

import (
	"encoding/binary"
	"hash/crc32"
)

// Len is the trailer's length.
const Len = 4

var table = crc32.MakeTable(crc32.Castagnoli)

// Seal appends the CRC of b[start:] to b.
func Seal(b []byte, start int) []byte {
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b[start:], table))
}

// Open returns p without its trailer; ok is false if p is shorter than
// one or the trailer is not the CRC of the rest.
func Open(p []byte) (body []byte, ok bool) {
	if len(p) < Len {
		return nil, false
	}
	body = p[:len(p)-Len]
	return body, binary.BigEndian.Uint32(p[len(body):]) == crc32.Checksum(body, table)
}

// Update returns crc updated with p: a CRC over bytes that are not
// contiguous (a routed tube message's covers both ends' identities too).
func Update(crc uint32, p []byte) uint32 { return crc32.Update(crc, table, p) }
