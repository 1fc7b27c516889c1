package tlog

import "strconv"

// Header holds the fields that are identical in every message of one recording.
type Header struct {
	// Host is the host's FQDN ("host").
	Host string
	// Rec is the recording ID ("rec", the journal's TLOG_REC).
	Rec string
	// User is the recorded user's name ("user").
	User string
	// Term is the terminal type, $TERM or "" ("term").
	Term string
	// Session is the audit session ID ("session"), 4294967295 when there is none.
	Session uint32
}

// Payload limits (tlog's "payload" setting).
const (
	// DefaultPayload is the payload used when EncoderOptions.Payload is 0.
	DefaultPayload = 2048
	// MinPayload is the smallest payload; smaller values are raised to it.
	MinPayload = 32
)

// EncoderOptions configure an Encoder.
type EncoderOptions struct {
	// Payload limits the bytes of one message counted as tlog counts them: the timing
	// string, the escaped in_txt and out_txt and the serialized in_bin and out_bin
	// (digits and commas); keys and header fields are not counted. 0 means
	// DefaultPayload; values below MinPayload are raised to it.
	Payload int
	// StartUnixMicro is the wall-clock time (µs since the Unix epoch) of recorder time
	// 0. A message's "time" is StartUnixMicro plus the recorder time of its first
	// record, printed as seconds with three decimals (truncated).
	StartUnixMicro int64
}

// Position is a point in the recorder's event stream: all events with a sequence number
// below Seq, and the first Skip bytes of event Seq.
type Position struct {
	Seq  uint64
	Skip uint32
}

// Window is a terminal size.
type Window struct {
	Cols, Rows uint16
}

// Message is one tlog message.
type Message struct {
	// ID is the message's "id": 1, 2, 3, … within the recording.
	ID uint64
	// JSON is the message exactly as tlog serializes it: one line ending in "\n".
	JSON []byte
	// Next is the stream position after this message: every byte before it is in this
	// message or an earlier one, and no byte after it is (RECD_NEXT).
	Next Position
	// Window is the window size in force at the end of this message, nil while none is
	// known (RECD_WINDOW).
	Window *Window
	// OriginMicros is the recorder time (µs) of the recording's first record, the time
	// "pos" counts from (RECD_ORIGIN_US).
	OriginMicros uint64
	// LastMicros is the recorder time (µs) of this message's last record, the packet
	// clock a resumed Encoder continues from (RECD_LAST_US).
	LastMicros uint64
	// InBytes and OutBytes count the raw input and output bytes carried in this message.
	InBytes, OutBytes int
}

// Directions of I/O; they index the per-direction buffers.
const (
	encIn  = 0
	encOut = 1
)

// Atom kinds: the units that are placed in a message whole or not at all.
const (
	encText = iota // one valid character
	encBin         // one invalid sequence: U+FFFD in *_txt, its bytes in *_bin
	encWin         // one window record
)

// encTextMarks and encBinMarks are the timing record markers of each direction.
var (
	encTextMarks = [2]byte{'<', '>'}
	encBinMarks  = [2]byte{'[', ']'}
)

// encRepl is U+FFFD, written to *_txt for each invalid sequence.
const encRepl = "\xef\xbf\xbd"

// Encoder turns the recorder's event stream into tlog messages, byte for byte as tlog's
// json_sink.c would write them (the package documentation says where it deviates).
// Events are passed in stream order with their sequence numbers and recorder times; the
// methods return the messages completed by the call, usually none. Each Message's JSON
// is newly allocated and owned by the caller. An Encoder is not safe for concurrent use.
type Encoder struct {
	prefix    []byte // the message up to and including `"id":`
	payload   int
	startUnix int64

	nextID  uint64
	started bool   // origin is set
	origin  uint64 // recorder time of pos 0
	last    uint64 // packet clock: time of the last record placed; never decreases

	winKnown bool
	win      Window

	// The message being built (tlog's chunk).
	got    bool   // a record has been placed (tlog's got_ts)
	first  uint64 // time of the message's first record
	used   int    // counted payload, including the open run's record
	timing []byte
	txt    [2][]byte // escaped in_txt, out_txt
	bin    [2][]byte // serialized in_bin, out_bin
	raw    [2]int    // raw bytes carried

	// The open run: at most one, whose record is written when it closes.
	runDir int // encIn, encOut, or -1 when no run is open
	runBin bool
	txtRun int // characters (replacement characters for a binary run)
	binRun int // bytes of a binary run

	// An incomplete UTF-8 sequence at the end of the stream consumed so far.
	pend     [4]byte
	pendLen  int
	pendDir  int
	pendTs   uint64   // time of its last byte
	pendPos  Position // position of its first byte
	mustCut  bool     // Skip was called: write the pending sequence as binary first
	pos      Position // position after everything consumed
	resumeAt Position // Resume position, while the event it names has not arrived
	resuming bool

	out []Message
}

// NewEncoder returns an Encoder for a new recording whose first message gets ID 1.
func NewEncoder(h Header, o EncoderOptions) *Encoder {
	p := o.Payload
	if p == 0 {
		p = DefaultPayload
	}
	if p < MinPayload {
		p = MinPayload
	}
	b := make([]byte, 0, 64+len(h.Host)+len(h.Rec)+len(h.User)+len(h.Term))
	b = append(b, `{"ver":"2.3","host":"`...)
	b = escAppendString(b, h.Host)
	b = append(b, `","rec":"`...)
	b = escAppendString(b, h.Rec)
	b = append(b, `","user":"`...)
	b = escAppendString(b, h.User)
	b = append(b, `","term":"`...)
	b = escAppendString(b, h.Term)
	b = append(b, `","session":`...)
	b = strconv.AppendUint(b, uint64(h.Session), 10)
	b = append(b, `,"id":`...)
	e := &Encoder{
		prefix:    b,
		payload:   p,
		startUnix: o.StartUnixMicro,
		nextID:    1,
		runDir:    -1,
		timing:    make([]byte, 0, p),
	}
	for d := range e.txt {
		e.txt[d] = make([]byte, 0, p)
		e.bin[d] = make([]byte, 0, p)
	}
	return e
}

// Resume continues a recording after recd restarted, from the facts its last message
// recorded: the next message gets ID nextID; pos counts from origin (the recording's
// OriginMicros); the packet clock continues from last (the last message's LastMicros;
// records are never placed before it); window, which may be nil, is the window in force
// (the last message's Window), restated at the head of the next message; and the stream
// continues at next (the last message's Next). The first event passed after Resume is
// event next.Seq, whose data starts at its byte next.Skip (the recorder resends the
// event without the bytes already written); positions within it count from there.
// The Encoder must have been made with the recording's Header and EncoderOptions.
// Resume discards anything the Encoder held.
func (e *Encoder) Resume(nextID uint64, origin, last uint64, window *Window, next Position) {
	e.nextID = nextID
	e.started = true
	e.origin = origin
	if last < origin {
		last = origin
	}
	e.last = last
	e.winKnown = window != nil
	if window != nil {
		e.win = *window
	}
	e.reset()
	e.pendLen = 0
	e.mustCut = false
	e.pos = next
	e.resumeAt = next
	e.resuming = true
}

// Output adds event seq: output bytes at recorder time micros (µs since the recorder
// started). It returns the messages completed by it.
func (e *Encoder) Output(seq, micros uint64, data []byte) []Message {
	return e.write(encOut, seq, micros, data)
}

// Input adds event seq: input bytes at recorder time micros. It returns the messages
// completed by it.
func (e *Encoder) Input(seq, micros uint64, data []byte) []Message {
	return e.write(encIn, seq, micros, data)
}

// Window adds event seq: the window size w at recorder time micros. A window equal to
// the one in force is not recorded. An incomplete UTF-8 sequence pending from the events
// before is first written as binary. It returns the messages completed by it.
func (e *Encoder) Window(seq, micros uint64, w Window) []Message {
	e.out = nil
	e.startEvent()
	if e.pendLen > 0 {
		e.cutPending()
	}
	if !e.winKnown || w != e.win {
		e.place(encOut, encWin, e.clock(micros), nil, 0, w, Position{Seq: seq})
	}
	e.pos = Position{Seq: seq + 1}
	return e.out
}

// Skip consumes event seq, which has no record in the recording (a loss note, withheld
// input): it only advances the stream position. An incomplete UTF-8 sequence pending
// from the events before is written as binary before anything else is added.
func (e *Encoder) Skip(seq uint64) {
	e.startEvent()
	if e.pendLen > 0 {
		e.mustCut = true
	}
	e.pos = Position{Seq: seq + 1}
}

// Flush ends the message being built, if it holds anything, and returns it (tlog's
// latency flush). An incomplete UTF-8 sequence at the end of the stream stays pending:
// it is not in the message, and the message's Next points at its first byte; when only
// such a sequence is pending, Flush returns nothing.
func (e *Encoder) Flush() []Message {
	e.out = nil
	e.cutIfSkipped()
	if e.got {
		e.emit(e.nextPos())
	}
	return e.out
}

// Cut ends the recording's stream: a pending incomplete UTF-8 sequence is written as
// binary (tlog's cut), then the message being built is ended and returned with any
// other message completed on the way.
func (e *Encoder) Cut() []Message {
	e.out = nil
	if e.pendLen > 0 {
		e.cutPending()
	}
	if e.got {
		e.emit(e.pos)
	}
	return e.out
}

// Pending reports whether the Encoder holds data not yet in a returned message: a
// message being built, or an incomplete UTF-8 sequence.
func (e *Encoder) Pending() bool {
	return e.got || e.pendLen > 0
}

// clock returns the packet time of an event at micros: never before the last record.
func (e *Encoder) clock(micros uint64) uint64 {
	if micros < e.last {
		return e.last
	}
	return micros
}

// startEvent ends the special treatment of the event a Resume named.
func (e *Encoder) startEvent() {
	e.resuming = false
}

// cutIfSkipped writes the pending sequence as binary if a skipped event followed it.
func (e *Encoder) cutIfSkipped() {
	if e.mustCut {
		e.mustCut = false
		if e.pendLen > 0 {
			e.cutPending()
		}
	}
}

// nextPos is the position of the first byte not yet placed in a message.
func (e *Encoder) nextPos() Position {
	if e.pendLen > 0 {
		return e.pendPos
	}
	return e.pos
}

// cutPending writes the pending incomplete sequence as one invalid sequence.
func (e *Encoder) cutPending() {
	var b [4]byte
	n := copy(b[:], e.pend[:e.pendLen])
	e.place(e.pendDir, encBin, e.pendTs, b[:n], 0, Window{}, e.pendPos)
	e.pendLen = 0
	e.mustCut = false
}

// write adds an I/O event.
func (e *Encoder) write(dir int, seq, micros uint64, data []byte) []Message {
	e.out = nil
	base := 0
	if e.resuming && seq == e.resumeAt.Seq {
		base = int(e.resumeAt.Skip)
	}
	e.startEvent()
	e.cutIfSkipped()
	if len(data) == 0 {
		if e.pendLen == 0 {
			e.pos = Position{Seq: seq + 1}
		}
		return e.out
	}
	if e.pendLen > 0 && e.pendDir != dir {
		e.cutPending()
	}
	ts := e.clock(micros)
	i := 0
	if e.pendLen > 0 {
		i = e.continuePending(seq, ts, base, data)
	}
	e.encode(dir, seq, ts, base, data, i)
	e.pos = Position{Seq: seq + 1}
	return e.out
}

// continuePending feeds the start of data to the pending sequence (same direction) and
// returns how many bytes of data it took.
func (e *Encoder) continuePending(seq, ts uint64, base int, data []byte) int {
	lead := e.pend[0]
	need := int(encLeads[lead].n)
	j := 0
	for e.pendLen+j < need && j < len(data) && encContinues(lead, e.pendLen+j, data[j]) {
		j++
	}
	var b [4]byte
	n := copy(b[:], e.pend[:e.pendLen])
	n += copy(b[n:], data[:j])
	switch {
	case n == need: // completed
		e.place(e.pendDir, encText, ts, b[:n], n, Window{}, e.pendPos)
		e.pendLen = 0
	case j == len(data): // still incomplete
		copy(e.pend[e.pendLen:], data)
		e.pendLen = n
		e.pendTs = ts
	default: // data[j] does not continue it: invalid
		t := e.pendTs
		if j > 0 {
			t = ts
		}
		e.place(e.pendDir, encBin, t, b[:n], 0, Window{}, e.pendPos)
		e.pendLen = 0
	}
	return j
}

// encode places data[i:] of event seq, direction dir, at time ts.
func (e *Encoder) encode(dir int, seq, ts uint64, base int, data []byte, i int) {
	n := len(data)
	for i < n {
		if e.got && e.runDir == dir && ts == e.last {
			if i = e.fast(dir, seq, base, data, i); i >= n {
				break
			}
		}
		// One atom the slow way: it may open a run, need a delay or start a message.
		b := data[i]
		start := Position{Seq: seq, Skip: uint32(base + i)}
		l := &encLeads[b]
		switch l.n {
		case 1:
			e.place(dir, encText, ts, data[i:i+1], int(escLen[b]), Window{}, start)
			i++
			continue
		case 0:
			e.place(dir, encBin, ts, data[i:i+1], 0, Window{}, start)
			i++
			continue
		}
		k := 1
		for k < int(l.n) && i+k < n && encContinues(b, k, data[i+k]) {
			k++
		}
		switch {
		case k == int(l.n):
			e.place(dir, encText, ts, data[i:i+k], k, Window{}, start)
		case i+k == n: // incomplete at the end of the event: keep it pending
			e.pendLen = copy(e.pend[:], data[i:])
			e.pendDir = dir
			e.pendTs = ts
			e.pendPos = start
		default:
			e.place(dir, encBin, ts, data[i:i+k], 0, Window{}, start)
		}
		i += k
	}
}

// fast places the atoms of data from i on while they continue the open run of dir at
// the time of the last record, the common case, without the general accounting of
// tryPlace: a change between text and binary closes the run and opens the other kind
// here too. It returns at the end of data, at an incomplete sequence at the end of data
// (left for the slow path), or after the message became full: then the message is
// emitted and the atom that did not fit is left for the slow path.
//
// The run counts' digits are accounted with thresholds: tNext and bNext are the
// smallest powers of ten above the text and binary counts, where the record gets one
// digit longer.
func (e *Encoder) fast(dir int, seq uint64, base int, data []byte, i int) int {
	n := len(data)
	start := i
	avail := e.payload - e.used
	txt, bin, timing := e.txt[dir], e.bin[dir], e.timing
	isBin := e.runBin
	trun, brun := e.txtRun, e.binRun
	tNext, bNext := encPow10Above(trun), encPow10Above(brun)
	full := false
	for i < n {
		b := data[i]
		c := int(escLen[b])
		if c == 1 && !isBin {
			// A span of characters written as they are.
			j := i + 1
			for j < n && escLen[data[j]] == 1 {
				j++
			}
			m := j - i
			if m > avail {
				m = avail
			}
			g := 0
			for t := tNext; trun+m >= t; t *= 10 {
				g++
			}
			for m > 0 && m+g > avail {
				m--
				if trun+m < tNext {
					g = 0
				} else {
					g = 0
					for t := tNext; trun+m >= t; t *= 10 {
						g++
					}
				}
			}
			if m == 1 {
				txt = append(txt, b)
			} else {
				txt = append(txt, data[i:i+m]...)
			}
			avail -= m + g
			trun += m
			for trun >= tNext {
				tNext *= 10
			}
			i += m
			if i < j {
				full = true
				break
			}
			continue
		}
		// One atom: a character of k bytes and escaped length c, or an invalid sequence.
		k := 1
		bad := false
		if c == 0 {
			l := &encLeads[b]
			if l.n < 2 {
				bad = true
			} else {
				for k < int(l.n) && i+k < n && encContinues(b, k, data[i+k]) {
					k++
				}
				if k == int(l.n) {
					c = k
				} else if i+k == n {
					break // incomplete at the end: pending, the slow path's business
				} else {
					bad = true
				}
			}
		}
		if !bad {
			cost := c
			if isBin {
				cost += 2 // a new text run
			} else if trun+1 >= tNext {
				cost++
			}
			if cost > avail {
				full = true
				break
			}
			if isBin {
				if trun < 10 && brun < 10 {
					timing = append(timing, encBinMarks[dir], byte('0'+trun), '/', byte('0'+brun))
				} else {
					timing = encAppendInt(append(encAppendInt(append(timing, encBinMarks[dir]), trun), '/'), brun)
				}
				isBin, trun, brun, tNext, bNext = false, 0, 0, 1, 1
			}
			if k == 1 {
				txt = escAppendByte(txt, b)
			} else {
				txt = append(txt, data[i:i+k]...)
			}
			avail -= cost
			trun++
			if trun >= tNext {
				tNext *= 10
			}
			i += k
			continue
		}
		// An invalid sequence: appended first, taken back if it does not fit.
		ob := len(bin)
		if ob > 0 && k == 1 {
			d := &encDecTab[b]
			if d[4] == 4 {
				bin = append(bin, ',', d[1], d[2], d[3])
			} else {
				bin = append(bin, d[:d[4]]...)
			}
		} else {
			for _, x := range data[i : i+k] {
				d := &encDecTab[x]
				if len(bin) > 0 {
					bin = append(bin, d[:d[4]]...)
				} else {
					bin = append(bin, d[1:d[4]]...)
				}
			}
		}
		cost := len(encRepl) + len(bin) - ob
		if isBin {
			if trun+1 >= tNext {
				cost++
			}
			for t := bNext; brun+k >= t; t *= 10 {
				cost++
			}
		} else {
			cost += 2 + 1 + encDigits(k) // a new binary run
		}
		if cost > avail {
			bin = bin[:ob]
			full = true
			break
		}
		if !isBin {
			if trun < 10 {
				timing = append(timing, encTextMarks[dir], byte('0'+trun))
			} else {
				timing = encAppendInt(append(timing, encTextMarks[dir]), trun)
			}
			isBin, trun, brun, tNext, bNext = true, 0, 0, 1, 1
		}
		txt = append(txt, encRepl...)
		avail -= cost
		trun++
		brun += k
		for trun >= tNext {
			tNext *= 10
		}
		for brun >= bNext {
			bNext *= 10
		}
		i += k
	}
	e.txt[dir], e.bin[dir], e.timing = txt, bin, timing
	e.runBin = isBin
	e.txtRun, e.binRun = trun, brun
	e.used = e.payload - avail
	e.raw[dir] += i - start
	if full {
		e.emit(Position{Seq: seq, Skip: uint32(base + i)})
	}
	return i
}

// place adds one atom at time ts, starting a new message first if it does not fit in the
// current one; start is the stream position of the atom's first byte (the Next of a
// message ended before it). For encText, b is the character and esc its escaped
// length; for encBin, b is the invalid sequence; for encWin, w is the window.
func (e *Encoder) place(dir, kind int, ts uint64, b []byte, esc int, w Window, start Position) {
	if e.tryPlace(dir, kind, ts, b, esc, w) {
		return
	}
	e.emit(start)
	if !e.tryPlace(dir, kind, ts, b, esc, w) {
		// Cannot happen: the largest atom in an empty message takes 30 bytes.
		panic("tlog: record larger than the payload")
	}
}

// tryPlace adds one atom if it fits in the current message, accounting its space as tlog
// reserves it: the restated window at the head of a message, a delay, the record of the
// run (marker and digits, grown as the run's count gains digits) and the data.
func (e *Encoder) tryPlace(dir, kind int, ts uint64, b []byte, esc int, w Window) bool {
	cost := 0
	var delay uint64
	if !e.got {
		if e.winKnown && kind != encWin {
			cost += encWindowLen(e.win)
		}
	} else if ts > e.last {
		if delay = (ts - e.last) / 1000; delay > 0 {
			cost += 1 + encDigitsU(delay)
		}
	}
	cont := e.got && delay == 0 && kind != encWin && e.runDir == dir && e.runBin == (kind == encBin)
	switch kind {
	case encText:
		if cont {
			cost += encDigits(e.txtRun+1) - encDigits(e.txtRun)
		} else {
			cost += 2
		}
		cost += esc
	case encBin:
		if cont {
			cost += encDigits(e.txtRun+1) - encDigits(e.txtRun) + encDigits(e.binRun+len(b)) - encDigits(e.binRun)
		} else {
			cost += 2 + 1 + encDigits(len(b))
		}
		cost += len(encRepl) + len(b) - 1
		if len(e.bin[dir]) > 0 {
			cost++
		}
		for _, x := range b {
			cost += encDecLen(x)
		}
	case encWin:
		cost += encWindowLen(w)
	}
	if e.used+cost > e.payload {
		return false
	}

	e.used += cost
	if !e.got {
		e.got = true
		e.first = ts
		e.last = ts
		if !e.started {
			e.started = true
			e.origin = ts
		}
		if e.winKnown && kind != encWin {
			e.timing = encAppendWindow(e.timing, e.win)
		}
	} else if ts > e.last {
		e.last = ts
		if delay > 0 {
			e.closeRun()
			e.timing = append(e.timing, '+')
			e.timing = strconv.AppendUint(e.timing, delay, 10)
		}
	}
	if !cont {
		e.closeRun()
	}
	switch kind {
	case encText:
		e.runDir, e.runBin = dir, false
		if len(b) == 1 {
			e.txt[dir] = escAppendByte(e.txt[dir], b[0])
		} else {
			e.txt[dir] = append(e.txt[dir], b...)
		}
		e.txtRun++
		e.raw[dir] += len(b)
	case encBin:
		e.runDir, e.runBin = dir, true
		e.txt[dir] = append(e.txt[dir], encRepl...)
		bin := e.bin[dir]
		for _, x := range b {
			if len(bin) > 0 {
				bin = append(bin, ',')
			}
			bin = encAppendDec(bin, x)
		}
		e.bin[dir] = bin
		e.txtRun++
		e.binRun += len(b)
		e.raw[dir] += len(b)
	case encWin:
		e.timing = encAppendWindow(e.timing, w)
		e.win = w
		e.winKnown = true
	}
	return true
}

// closeRun writes the record of the open run, if any.
func (e *Encoder) closeRun() {
	if e.runDir < 0 {
		return
	}
	if e.runBin {
		e.timing = encAppendInt(append(encAppendInt(append(e.timing, encBinMarks[e.runDir]), e.txtRun), '/'), e.binRun)
	} else {
		e.timing = encAppendInt(append(e.timing, encTextMarks[e.runDir]), e.txtRun)
	}
	e.runDir = -1
	e.txtRun, e.binRun = 0, 0
}

// emit ends the message being built and appends it to e.out.
func (e *Encoder) emit(next Position) {
	e.closeRun()
	size := len(e.prefix) + 160 + len(e.timing)
	for d := range e.txt {
		size += len(e.txt[d]) + len(e.bin[d])
	}
	j := make([]byte, 0, size)
	j = append(j, e.prefix...)
	j = strconv.AppendUint(j, e.nextID, 10)
	j = append(j, `,"pos":`...)
	var pos uint64
	if e.first > e.origin {
		pos = (e.first - e.origin) / 1000
	}
	j = strconv.AppendUint(j, pos, 10)
	j = append(j, `,"time":`...)
	t := e.startUnix + int64(e.first)
	if t < 0 {
		t = 0
	}
	j = strconv.AppendInt(j, t/1e6, 10)
	ms := t % 1e6 / 1000
	j = append(j, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
	j = append(j, `,"timing":"`...)
	j = append(j, e.timing...)
	j = append(j, `","in_txt":"`...)
	j = append(j, e.txt[encIn]...)
	j = append(j, `","in_bin":[`...)
	j = append(j, e.bin[encIn]...)
	j = append(j, `],"out_txt":"`...)
	j = append(j, e.txt[encOut]...)
	j = append(j, `","out_bin":[`...)
	j = append(j, e.bin[encOut]...)
	j = append(j, "]}\n"...)

	m := Message{
		ID:           e.nextID,
		JSON:         j,
		Next:         next,
		OriginMicros: e.origin,
		LastMicros:   e.last,
		InBytes:      e.raw[encIn],
		OutBytes:     e.raw[encOut],
	}
	if e.winKnown {
		w := e.win
		m.Window = &w
	}
	e.out = append(e.out, m)
	e.nextID++
	e.reset()
}

// reset empties the message being built.
func (e *Encoder) reset() {
	e.got = false
	e.used = 0
	e.timing = e.timing[:0]
	for d := range e.txt {
		e.txt[d] = e.txt[d][:0]
		e.bin[d] = e.bin[d][:0]
		e.raw[d] = 0
	}
	e.runDir = -1
	e.txtRun, e.binRun = 0, 0
}

// encAppendWindow appends a window record.
func encAppendWindow(b []byte, w Window) []byte {
	b = append(b, '=')
	b = strconv.AppendUint(b, uint64(w.Cols), 10)
	b = append(b, 'x')
	return strconv.AppendUint(b, uint64(w.Rows), 10)
}

// encWindowLen is the length of w's window record.
func encWindowLen(w Window) int {
	return 2 + encDigits(int(w.Cols)) + encDigits(int(w.Rows))
}

// encAppendDec appends the decimal form of x.
func encAppendDec(b []byte, x byte) []byte {
	switch {
	case x >= 100:
		return append(b, '0'+x/100, '0'+x/10%10, '0'+x%10)
	case x >= 10:
		return append(b, '0'+x/10, '0'+x%10)
	}
	return append(b, '0'+x)
}

// encAppendInt appends the decimal form of n >= 0.
func encAppendInt(b []byte, n int) []byte {
	switch {
	case n < 10:
		return append(b, byte('0'+n))
	case n < 100:
		return append(b, byte('0'+n/10), byte('0'+n%10))
	}
	return strconv.AppendUint(b, uint64(n), 10)
}

// encDecLen is the length of the decimal form of x.
func encDecLen(x byte) int {
	switch {
	case x >= 100:
		return 3
	case x >= 10:
		return 2
	}
	return 1
}

// encDigits is the number of decimal digits of n >= 0.
func encDigits(n int) int {
	switch {
	case n < 10:
		return 1
	case n < 100:
		return 2
	case n < 1000:
		return 3
	case n < 10000:
		return 4
	}
	d := 5
	for n >= 100000 {
		n /= 10
		d++
	}
	return d
}

// encPow10Above is the smallest power of ten above n >= 0.
func encPow10Above(n int) int {
	p := 10
	for n >= p {
		p *= 10
	}
	return p
}

// encDecTab[x] is ",x" in decimal, with its length (2 to 4) in the last byte.
var encDecTab = func() (t [256][5]byte) {
	for x := range t {
		b := encAppendDec([]byte{','}, byte(x))
		copy(t[x][:], b)
		t[x][4] = byte(len(b))
	}
	return t
}()

// encDigitsU is the number of decimal digits of n.
func encDigitsU(n uint64) int {
	d := 1
	for n >= 10 {
		n /= 10
		d++
	}
	return d
}
