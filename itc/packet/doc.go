// Package packet encodes and decodes T2 intertile (ITC) packets.
//
// A packet is 1..255 bytes. Byte 0 is the header:
//
//	bit 7    6    5    4    3    2..0
//	    STND LOCL MFMT OVRN EROR DIR
//
// STND=0 marks a non-standard packet whose other seven bits are an ASCII
// byte (PRU debug output). STND=1, LOCL=0 is a routed packet to or from a
// neighbour: MFMT=1 for MFM traffic, MFMT=0 for service traffic, whose byte 1
// is RSV1 RSV0 SVC5..SVC0 (services 1..63). STND=1, LOCL=1 is a local packet
// whose low five bits are a type; type 4 is the Tile Event Packet
// (0xC4 EVENT DIR8 OPT_ARGS*).
//
// Decode never allocates and never panics: the returned Packet's Payload
// aliases the input. The Append functions are append-style encoders that
// validate what they write. notes/protocol.md documents every format byte by
// byte.
package packet
