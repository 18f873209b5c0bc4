package dev

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/t2tiles/itcd/itc/packet"
)

// The UDP link frame, framing version 3 (notes/protocol.md, "UDP link
// frames"). Every datagram between two UDP devices is one frame:
//
//	byte 0     0x56   FrameMagic: framing version 3 (version v is 0x54+v-1)
//	byte 1     type   FramePacket (0x01) or FrameKeepalive (0x02)
//	byte 2     dir8   the sender's name for the link (its outgoing DIR)
//	byte 3..6  epoch  the sender's run: random, nonzero, big-endian
//	FramePacket only:
//	byte 7..8  seq    per-link sequence number, big-endian
//	byte 9..   packet one ITC packet, 1..255 bytes
//	FrameKeepalive only:
//	byte 7..14 mfzid  MFZDigest of the sender's physics identity
//
// ParseFrame checks what a frame says of itself; what needs the link's
// state (the direction against the link it came from, the epoch and
// sequence against the link's receive window, the packet inside) is
// UDP.receive's. A frame has no length field or checksum of its own: UDP
// keeps datagram boundaries and checksums them, and a packet damaged in a
// way UDP misses is what a T2 link delivers too (services check their own).
const (
	FrameMagic        = 0x56 // 'V': framing version 3
	frameMagicV1      = 0x54 // 'T': version 1 (no epoch or sequence number)
	FramePacket       = 0x01 // followed by epoch, sequence, one ITC packet of 1..255 bytes
	FrameKeepalive    = 0x02 // followed by epoch and the sender's MFZDigest
	frameBaseLen      = 7    // magic, type, dir8, epoch[4]: what every frame starts with
	MFZDigestLen      = 8    // bytes of a physics identity's digest
	KeepaliveFrameLen = frameBaseLen + MFZDigestLen
	FrameHeaderLen    = 9 // magic, type, dir8, epoch[4], seq[2]
	MaxFrameLen       = FrameHeaderLen + packet.MaxLen
)

// MFZDigest stands for a tile's physics identity (its mfzid) in the link
// handshake: the first 8 bytes of the identity's SHA-256. The handshake
// only asks "equal?", so a digest is enough: it keeps the keepalive one
// fixed size whatever the identity's length (0..MaxMFZID bytes), and two
// different identities share a digest with probability 2^-64. It is no
// authentication: a neighbour can claim any identity, as with the kernel.
type MFZDigest [MFZDigestLen]byte

// DigestMFZID returns the digest of physics identity id. The empty
// identity (a tile that never set one) has a digest like any other, so two
// such tiles compare equal, as two tiles that never wrote mfzid do.
func DigestMFZID(id []byte) MFZDigest {
	h := sha256.Sum256(id)
	return MFZDigest(h[:MFZDigestLen])
}

// Frame is one UDP link frame.
type Frame struct {
	// Type is FramePacket or FrameKeepalive.
	Type byte
	// Dir is byte 2, the sender's outgoing direction. Any byte parses:
	// the receiver compares it with the opposite of its own link.
	Dir packet.Dir
	// Epoch tells the sender's runs apart; never 0.
	Epoch uint32
	// Seq and Packet are a packet frame's; a keepalive has neither.
	// Packet is 1..255 bytes, not decoded here, and aliases the datagram.
	Seq    uint16
	Packet []byte
	// MFZ is a keepalive's: the digest of the sender's physics identity
	// (its KITC handshake). A packet frame has none.
	MFZ MFZDigest
}

// FrameError is a reason a datagram is not a well-formed frame. ParseFrame
// and AppendFrame return only the values below, so callers compare with
// errors.Is and parsing never allocates, even on garbage.
type FrameError struct{ msg string }

func (e *FrameError) Error() string { return "udp frame: " + e.msg }

// The ways a datagram can fail to be a frame, in the order ParseFrame
// checks them.
var (
	ErrFrameMagic    = &FrameError{"not an itcd UDP link frame (wrong magic byte)"}
	ErrFrameVersion  = &FrameError{"another UDP link framing version (byte 0 in 0x54..0x5F but not 0x56): run the same itcd version at both ends"}
	ErrFrameShort    = &FrameError{"frame shorter than its header"}
	ErrKeepaliveLen  = &FrameError{"keepalive frame of the wrong length: a keepalive is exactly 15 bytes"}
	ErrFrameNoPacket = &FrameError{"packet frame without a packet"}
	ErrFrameTooLong  = &FrameError{"packet frame longer than 255 packet bytes"}
	ErrFrameType     = &FrameError{"unknown frame type: want 0x01 (packet) or 0x02 (keepalive)"}
	ErrFrameEpoch    = &FrameError{"frame with epoch 0"}
)

// frameVersion returns the framing version byte 0 of a frame names, or 0
// if it is no itcd UDP frame: version v has magic 0x54+v-1, so a
// receiver recognises a peer that speaks another version (0x54..0x5F).
func frameVersion(b0 byte) int {
	if b0 < frameMagicV1 || b0 > 0x5F {
		return 0
	}
	return int(b0-frameMagicV1) + 1
}

// ParseFrame reads one datagram as a frame. Every length is checked before
// use; the error is one of the FrameError values. The frame's Packet
// aliases b.
func ParseFrame(b []byte) (Frame, error) {
	switch {
	case len(b) == 0:
		return Frame{}, ErrFrameShort
	case b[0] != FrameMagic && frameVersion(b[0]) != 0:
		return Frame{}, ErrFrameVersion
	case b[0] != FrameMagic:
		return Frame{}, ErrFrameMagic
	case len(b) < frameBaseLen:
		return Frame{}, ErrFrameShort
	}
	f := Frame{Type: b[1], Dir: packet.Dir(b[2]), Epoch: binary.BigEndian.Uint32(b[3:7])}
	switch f.Type {
	case FrameKeepalive:
		if len(b) != KeepaliveFrameLen {
			return Frame{}, ErrKeepaliveLen
		}
		f.MFZ = MFZDigest(b[frameBaseLen:KeepaliveFrameLen])
	case FramePacket:
		if len(b) <= FrameHeaderLen {
			return Frame{}, ErrFrameNoPacket
		}
		if len(b) > MaxFrameLen {
			return Frame{}, ErrFrameTooLong
		}
		f.Seq = binary.BigEndian.Uint16(b[7:9])
		f.Packet = b[FrameHeaderLen:]
	default:
		return Frame{}, ErrFrameType
	}
	if f.Epoch == 0 {
		return Frame{}, ErrFrameEpoch
	}
	return f, nil
}

// AppendFrame appends f to dst. It refuses what ParseFrame refuses, with
// the same errors, and then returns dst unchanged: a type other than
// FramePacket or FrameKeepalive, epoch 0, a packet frame whose packet is
// empty or longer than 255 bytes. A keepalive's Seq and Packet, and a
// packet frame's MFZ, are ignored. The packet is not decoded (the receiver does that), so any
// 1..255 bytes can be framed.
func AppendFrame(dst []byte, f Frame) ([]byte, error) {
	switch {
	case f.Type != FramePacket && f.Type != FrameKeepalive:
		return dst, ErrFrameType
	case f.Type == FramePacket && len(f.Packet) == 0:
		return dst, ErrFrameNoPacket
	case f.Type == FramePacket && len(f.Packet) > packet.MaxLen:
		return dst, ErrFrameTooLong
	case f.Epoch == 0:
		return dst, ErrFrameEpoch
	}
	dst = appendFrameHeader(dst, f.Type, f.Dir, f.Epoch)
	if f.Type == FrameKeepalive {
		return append(dst, f.MFZ[:]...), nil
	}
	dst = binary.BigEndian.AppendUint16(dst, f.Seq)
	return append(dst, f.Packet...), nil
}

// appendFrameHeader appends the bytes every frame starts with: magic,
// type, direction and epoch.
func appendFrameHeader(dst []byte, typ byte, d packet.Dir, epoch uint32) []byte {
	dst = append(dst, FrameMagic, typ, byte(d))
	return binary.BigEndian.AppendUint32(dst, epoch)
}

// putFrameSeq writes seq into a packet frame built by appendFrameHeader.
func putFrameSeq(frame []byte, seq uint16) {
	binary.BigEndian.PutUint16(frame[frameBaseLen:FrameHeaderLen], seq)
}
