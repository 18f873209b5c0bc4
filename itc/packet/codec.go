package packet

// Decode parses one packet. It never allocates and never panics; the
// returned Payload aliases b. A packet with OVRN or EROR set still decodes
// (see Packet.Suspect): what to do with it is the caller's decision.
func Decode(b []byte) (Packet, error) {
	var p Packet
	if len(b) == 0 {
		return p, ErrEmpty
	}
	if len(b) > MaxLen {
		return p, ErrTooLong
	}
	h := b[0]
	switch {
	case h&BitSTND == 0:
		p.Kind = KindNonStandard
		p.ASCII = h
		p.Payload = b[1:]
	case h&BitLOCL == 0:
		d := Dir(h & MaskDir)
		if !d.IsLink() {
			return Packet{}, ErrNoLink
		}
		p.Dir = d
		p.Overrun = h&BitOVRN != 0
		p.Error = h&BitEROR != 0
		if h&BitMFMT != 0 {
			p.Kind = KindMFM
			p.Payload = b[MFMHeaderLen:]
			break
		}
		if len(b) < ServiceHeaderLen {
			return Packet{}, ErrShortService
		}
		if b[1]&MaskReserved != 0 {
			return Packet{}, ErrReservedBits
		}
		s := Service(b[1] & MaskService)
		if s == 0 {
			return Packet{}, ErrService0
		}
		p.Kind = KindService
		p.Service = s
		p.Payload = b[ServiceHeaderLen:]
	default:
		if h&BitMFMT != 0 {
			return Packet{}, ErrLocalMFMT
		}
		t := LocalType(h & MaskType)
		switch {
		case t == LocalIllegal:
			return Packet{}, ErrIllegalLocal
		case t > LocalTEP:
			return Packet{}, ErrReservedLocal
		}
		p.Kind = KindLocal
		p.Local = t
		if t != LocalTEP {
			p.Payload = b[LocalHeaderLen:]
			break
		}
		if len(b) < TEPHeaderLen {
			return Packet{}, ErrShortTEP
		}
		e := Event(b[1])
		if !e.Valid() {
			return Packet{}, ErrTEPEvent
		}
		if b[2] > 7 {
			return Packet{}, ErrBadDir
		}
		d := Dir(b[2])
		if !d.IsLink() {
			return Packet{}, ErrTEPDir
		}
		p.Event = e
		p.EventDir = d
		p.Payload = b[TEPHeaderLen:]
	}
	return p, nil
}

// Append appends the encoding of p to dst. It returns dst unchanged and an
// error if p is not a valid packet; Decode(Append(nil, p)) gives p back.
func Append(dst []byte, p *Packet) ([]byte, error) {
	switch p.Kind {
	case KindMFM:
		return AppendMFM(dst, p.Dir, p.Overrun, p.Error, p.Payload)
	case KindService:
		if err := checkRouted(p.Dir, ServiceHeaderLen+len(p.Payload)); err != nil {
			return dst, err
		}
		if err := checkService(p.Service); err != nil {
			return dst, err
		}
		dst = append(dst, routedHeader(p.Dir, p.Overrun, p.Error), byte(p.Service))
		return append(dst, p.Payload...), nil
	case KindLocal:
		if p.Local == LocalTEP {
			return AppendTEP(dst, p.Event, p.EventDir, p.Payload)
		}
		return AppendLocal(dst, p.Local, p.Payload)
	case KindNonStandard:
		if p.ASCII&BitSTND != 0 {
			return dst, ErrNotASCII
		}
		if 1+len(p.Payload) > MaxLen {
			return dst, ErrTooLong
		}
		return append(append(dst, p.ASCII), p.Payload...), nil
	}
	return dst, ErrKind
}

// AppendService appends a service packet for service s on link d.
func AppendService(dst []byte, d Dir, s Service, payload []byte) ([]byte, error) {
	if err := checkRouted(d, ServiceHeaderLen+len(payload)); err != nil {
		return dst, err
	}
	if err := checkService(s); err != nil {
		return dst, err
	}
	dst = append(dst, BitSTND|byte(d), byte(s))
	return append(dst, payload...), nil
}

// AppendMFM appends an MFM packet on link d.
func AppendMFM(dst []byte, d Dir, overrun, eror bool, payload []byte) ([]byte, error) {
	if err := checkRouted(d, MFMHeaderLen+len(payload)); err != nil {
		return dst, err
	}
	dst = append(dst, routedHeader(d, overrun, eror)|BitMFMT)
	return append(dst, payload...), nil
}

// AppendLocal appends a local packet of type t other than the TEP, which
// has its own encoder.
func AppendLocal(dst []byte, t LocalType, payload []byte) ([]byte, error) {
	switch {
	case t == LocalIllegal:
		return dst, ErrIllegalLocal
	case t == LocalTEP:
		return dst, ErrShortTEP // a TEP needs EVENT and DIR8: use AppendTEP
	case t > LocalTEP:
		return dst, ErrReservedLocal
	}
	if LocalHeaderLen+len(payload) > MaxLen {
		return dst, ErrTooLong
	}
	return append(append(dst, BitSTND|BitLOCL|byte(t)), payload...), nil
}

// AppendTEP appends a Tile Event Packet: 0xC4 EVENT DIR8 args...
func AppendTEP(dst []byte, e Event, d Dir, args []byte) ([]byte, error) {
	if !e.Valid() {
		return dst, ErrTEPEvent
	}
	if d > 7 {
		return dst, ErrBadDir
	}
	if !d.IsLink() {
		return dst, ErrTEPDir
	}
	if TEPHeaderLen+len(args) > MaxLen {
		return dst, ErrTooLong
	}
	dst = append(dst, BitSTND|BitLOCL|byte(LocalTEP), byte(e), byte(d))
	return append(dst, args...), nil
}

// SetArrival rewrites the DIR bits of a routed packet to d, the link it
// arrived on, as the receiving side of a T2 link does. Other packets are
// left alone: their low bits are not a direction.
func SetArrival(b []byte, d Dir) {
	if len(b) > 0 && b[0]&(BitSTND|BitLOCL) == BitSTND {
		b[0] = b[0]&^MaskDir | byte(d)&MaskDir
	}
}

// RoutedDir returns the DIR of a routed packet and whether b is one.
func RoutedDir(b []byte) (Dir, bool) {
	if len(b) == 0 || b[0]&(BitSTND|BitLOCL) != BitSTND {
		return 0, false
	}
	return Dir(b[0] & MaskDir), true
}

func routedHeader(d Dir, overrun, eror bool) byte {
	h := BitSTND | byte(d)
	if overrun {
		h |= BitOVRN
	}
	if eror {
		h |= BitEROR
	}
	return h
}

func checkRouted(d Dir, n int) error {
	if d > 7 {
		return ErrBadDir
	}
	if !d.IsLink() {
		return ErrNoLink
	}
	if n > MaxLen {
		return ErrTooLong
	}
	return nil
}

func checkService(s Service) error {
	if s == 0 {
		return ErrService0
	}
	if s > MaxService {
		return ErrBadService
	}
	return nil
}
