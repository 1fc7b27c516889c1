package recording

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/recd-dev/recd/internal/chain"
	"github.com/recd-dev/recd/internal/journal"
	"github.com/recd-dev/recd/internal/tlog"
)

// Problem is one thing wrong with a recording, and where.
type Problem struct {
	Where string // the entry (Where) or "recording"
	What  string
}

func (p Problem) String() string { return p.Where + ": " + p.What }

// Report is the result of Verify.
type Report struct {
	ID       string
	Kind     Kind
	Summary  Summary
	Entries  int // genuine entries
	Messages int // genuine message entries
	// Verifiable is false for recordings made by tlog: they carry no hash chain, so only
	// their message ids are checked.
	Verifiable bool
	Problems   []Problem
	Notes      []string // facts worth saying that are not problems (status, drops)
}

// OK reports whether the recording is verified and nothing is wrong.
func (r *Report) OK() bool { return r.Verifiable && len(r.Problems) == 0 }

func (r *Report) add(where, format string, args ...any) {
	r.Problems = append(r.Problems, Problem{Where: where, What: fmt.Sprintf(format, args...)})
}

// Verify checks a recording. For one made by recd: every entry that names the recording
// was written by recd (trusted _UID=0 and _COMM=tlog-rec-sessio; any other is forged and
// not part of the chain), RECD_ENTRY runs 1, 2, 3… in journal order with none missing or
// repeated, each RECD_CHAIN is chain.Next of the one before over the entry's fields as
// journalctl shows them, it opens with an open entry and ends with a close entry that
// counts the messages, the tlog message ids run 1, 2, 3… and every message decodes. For one
// made by tlog there is no chain: only the ids and messages are checked.
func Verify(rec *Recording) *Report {
	r := &Report{ID: rec.ID, Kind: rec.Kind, Summary: rec.Summary()}
	for _, e := range rec.Foreign() {
		r.add(foreignWhere(e), "forged: names recording %s but was written by _UID=%s _COMM=%s (_PID=%s), not by %s; not part of the chain",
			rec.ID, orNone(e.Get(FieldUID)), orNone(e.Get(FieldComm)), orNone(e.Get("_PID")), recorderOf(rec.Kind))
	}
	switch rec.Kind {
	case KindRecd:
		r.Verifiable = true
		verifyRecd(rec, r)
	case KindTlog:
		r.Notes = append(r.Notes, "made by tlog: it carries no hash chain, so its authenticity cannot be verified (unverifiable); only its message ids were checked")
		msgs := rec.Messages()
		r.Entries = len(msgs)
		verifyMessages(msgs, r, 1)
	default:
		r.add("recording", "no genuine entry: every entry that names it was written by another program")
	}
	return r
}

func recorderOf(k Kind) string {
	if k == KindTlog {
		return "tlog-rec or tlog-rec-session"
	}
	return "recd (_UID=0 _COMM=" + RecorderComm + ")"
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func foreignWhere(e journal.Entry) string {
	s := "entry"
	if t := e.Realtime(); !t.IsZero() {
		s += " at " + t.Local().Format("2006-01-02 15:04:05.000")
	}
	if c := e.Cursor(); c != "" {
		s += " (cursor " + c + ")"
	}
	return s
}

// verifyMessages checks message ids from firstID on and that every message decodes.
func verifyMessages(msgs []journal.Entry, r *Report, firstID uint64) {
	r.Messages = len(msgs)
	d := &tlog.Decoder{Lax: true}
	next := firstID
	for _, e := range msgs {
		m, err := tlog.ParseMessage(e.Bytes(FieldMessage))
		if err != nil {
			r.add(Where(e), "%v", err)
			continue
		}
		if id := e.Get(FieldTlogID); id != "" && id != strconv.FormatUint(m.ID, 10) {
			r.add(Where(e), "TLOG_ID=%s but the message says id %d", id, m.ID)
		}
		switch {
		case m.ID > next:
			if m.ID == next+1 {
				r.add(Where(e), "message %d is missing", next)
			} else {
				r.add(Where(e), "messages %d to %d are missing", next, m.ID-1)
			}
		case m.ID < next:
			r.add(Where(e), "message %d is out of order (after message %d)", m.ID, next-1)
		}
		if m.ID >= next {
			next = m.ID + 1
		}
		if _, err := d.Decode(m); err != nil {
			r.add(Where(e), "%v", err)
		}
	}
}

func verifyRecd(rec *Recording, r *Report) {
	var genuine []journal.Entry
	for _, e := range rec.Entries {
		if GenuineRecd(e, rec.ID) {
			genuine = append(genuine, e)
		}
	}
	r.Entries = len(genuine)

	// RECD_ENTRY: 1, 2, 3… in journal order.
	type numbered struct {
		n int64
		e journal.Entry
	}
	var ents []numbered
	seen := map[int64]bool{}
	var max int64
	for _, e := range genuine {
		n, ok := e.Int(FieldEntry)
		if !ok || n < 1 {
			r.add(Where(e), "RECD_ENTRY %q is not a positive number", e.Get(FieldEntry))
			continue
		}
		if seen[n] {
			r.add(Where(e), "entry %d appears twice", n)
			continue
		}
		if n < max {
			r.add(Where(e), "entry %d is out of order: it comes after entry %d in the journal", n, max)
		}
		seen[n] = true
		if n > max {
			max = n
		}
		ents = append(ents, numbered{n, e})
	}
	for n := int64(1); n <= max; n++ {
		if !seen[n] {
			r.add("recording", "entry %d is missing (entries run 1 to %d)", n, max)
		}
	}

	// The chain, in the order recd wrote the entries.
	sort.SliceStable(ents, func(i, j int) bool { return ents[i].n < ents[j].n })
	prev, prevN := chain.Seed(rec.ID), int64(0)
	for _, x := range ents {
		for _, f := range x.e.Repeated() {
			if chain.Covered(f) || f == chain.Field {
				r.add(Where(x.e), "field %s occurs more than once", f)
			}
		}
		got := x.e.Get(chain.Field)
		want := chain.Next(prev, x.e.Fields())
		if got != want {
			why := "its content was altered, or it was not written after entry " + strconv.FormatInt(prevN, 10)
			if prevN == 0 {
				why = "its content was altered, or it is not the recording's first entry"
			}
			if x.n != prevN+1 {
				why = "the entries before it are missing"
			}
			r.add(Where(x.e), "hash chain broken (RECD_CHAIN does not follow from entry %d): %s", prevN, why)
		}
		prev, prevN = got, x.n
	}

	// Open first, close last, messages in between.
	var msgs []journal.Entry
	var closeEnt journal.Entry
	for i, x := range ents {
		ev := x.e.Get(FieldEvent)
		switch ev {
		case EventOpen:
			if x.n != 1 {
				r.add(Where(x.e), "open entry is not entry 1")
			}
		case EventMessage:
			msgs = append(msgs, x.e)
		case EventNote:
			if note := x.e.Get(FieldNote); note != "" {
				r.Notes = append(r.Notes, fmt.Sprintf("%s: note %s %s", Where(x.e), note, x.e.Get("RECD_BYTES")))
			}
		case EventClose:
			if i != len(ents)-1 {
				r.add(Where(x.e), "close entry is followed by %d more entries", len(ents)-1-i)
			}
			closeEnt = x.e
		default:
			r.add(Where(x.e), "unknown RECD_EVENT %q", ev)
		}
	}
	if len(ents) > 0 && ents[0].n == 1 && ents[0].e.Get(FieldEvent) != EventOpen {
		r.add(Where(ents[0].e), "entry 1 is not an open entry")
	}
	verifyMessages(msgs, r, 1)
	if closeEnt == nil {
		r.add("recording", "no close entry: the recording is still live, or recd stopped before closing it, or the close entry was removed")
		return
	}
	if n, ok := closeEnt.Int(FieldMessages); !ok || n != int64(len(msgs)) {
		r.add(Where(closeEnt), "close entry counts RECD_MESSAGES=%s, but %d message entries are present", orNone(closeEnt.Get(FieldMessages)), len(msgs))
	}
	st := closeEnt.Get(FieldStatus)
	if st != string(StatusComplete) {
		note := "closed with status " + orNone(st)
		if reason := closeEnt.Get(FieldReason); reason != "" {
			note += " (" + reason + ")"
		}
		r.Notes = append(r.Notes, note)
	}
}

// Text is the report as verify prints it.
func (r *Report) Text() string {
	var b strings.Builder
	verdict := "OK"
	switch {
	case len(r.Problems) > 0:
		verdict = fmt.Sprintf("FAILED (%d problems)", len(r.Problems))
	case !r.Verifiable:
		verdict = "UNVERIFIABLE"
	}
	fmt.Fprintf(&b, "%s: %s\n", r.ID, verdict)
	if r.Kind != 0 {
		s := r.Summary
		fmt.Fprintf(&b, "  made by %s; user %s on %s; %d entries, %d messages\n", r.Kind, orNone(s.User), orNone(s.Host), r.Entries, r.Messages)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "  problem: %s\n", p)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	return b.String()
}
