package tubes

// The lifecycle of a tube, as a pure table of states and events; the
// service applies it and does what the transition says (notes/design.md
// draws the table).
type state uint8

const (
	stOpening   state = iota // OPEN sent, waiting for ACCEPT
	stOpen                   // both directions carry data
	stSent                   // we finished writing (FIN sent); they still write
	stGot                    // they finished (FIN in, all before it); we still write
	stBoth                   // both finished; our FIN not yet read by the far program
	stDelivered              // our FIN read by the far program; theirs not yet in
	stLinger                 // closed cleanly; repeats are still answered
	stClosed                 // gone
	stFailed                 // ended with an error: the program is told why
)

var stateNames = [...]string{"opening", "open", "sent-fin", "got-fin", "both-fin", "delivered", "linger", "closed", "failed"}

func (s state) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "?"
}

type event uint8

const (
	evAccepted  event = iota // ACCEPT arrived (opener) or sent (acceptor)
	evLocalFin               // the program finished writing
	evRemoteFin              // the far FIN and every byte before it arrived
	evFinRead                // the far program read our whole stream
	evFail                   // RESET, timeout, neighbour gone, abort
	evLingerEnd              // the linger time passed
)

var eventNames = [...]string{"accepted", "local-fin", "remote-fin", "fin-read", "fail", "linger-end"}

func (e event) String() string {
	if int(e) < len(eventNames) {
		return eventNames[e]
	}
	return "?"
}

// transitions is the table: the next state for each state and event. A
// pair not listed leaves the state as it is (a repeat, or an event that
// cannot change it, such as a second FIN).
var transitions = map[state]map[event]state{
	stOpening:   {evAccepted: stOpen, evFail: stFailed, evLocalFin: stOpening},
	stOpen:      {evLocalFin: stSent, evRemoteFin: stGot, evFail: stFailed},
	stSent:      {evRemoteFin: stBoth, evFinRead: stDelivered, evFail: stFailed},
	stGot:       {evLocalFin: stBoth, evFail: stFailed},
	stBoth:      {evFinRead: stLinger, evFail: stFailed},
	stDelivered: {evRemoteFin: stLinger, evFail: stFailed},
	stLinger:    {evLingerEnd: stClosed, evFail: stClosed},
	stFailed:    {evLingerEnd: stClosed},
}

// next applies event e to state s.
func next(s state, e event) state {
	if t, ok := transitions[s][e]; ok {
		return t
	}
	return s
}

// finished reports whether the program's part is over: it is told 'c'
// (stLinger) or 'x' (stFailed) on entering.
func (s state) finished() bool { return s >= stLinger }
