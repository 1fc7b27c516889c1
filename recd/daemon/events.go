package daemon

import (
	"errors"
	"strconv"
	"sync"

	"github.com/coreos/go-systemd/v22/journal"

	"github.com/recd-dev/recd/recd/journalwriter"
)

// MESSAGE_IDs of the entries recd writes (docs/recording-format.md).
const (
	msgIDLogin   = "6102febe493440219acfc9604991704b"
	msgIDLogout  = "c3eaf82fc2dc4ef48a0cf3d6375c156a"
	msgIDRefused = "7548be0b30794276ad3563e8447f211b"
	msgIDOpen    = "a5396ace7014482f89b10ad18209aba6"
	msgIDNote    = "4ad59fd7a75d43b68af408f6ad956ed3"
	msgIDClose   = "f2488270cfa24aa49a7e96c3b2d049bd"
)

// eventSink sends recd's own structured log entries (logins, logouts, refusals) from
// recd itself, so they carry _COMM=recd. With the standard journald socket it uses
// go-systemd's journal.Send; tests point Options.JournalSocket elsewhere and get the same
// native-protocol entry through a journalwriter.Sender. Entries are sent by one goroutine
// from a bounded queue, so that a slow or stopped journald never holds up a login
// (pam_recd waits for recd's answer inside sshd or login).
type eventSink struct {
	path   string
	once   sync.Once
	q      chan queuedEvent
	sender *journalwriter.Sender
}

type queuedEvent struct {
	msg      string
	prio     journal.Priority
	fields   map[string]string
	fallback func(error) // called when the journal did not take the entry
}

// maxQueuedEvents bounds the events waiting for journald.
const maxQueuedEvents = 4096

func (s *eventSink) enqueue(e queuedEvent) bool {
	s.once.Do(func() {
		s.q = make(chan queuedEvent, maxQueuedEvents)
		go s.loop()
	})
	select {
	case s.q <- e:
		return true
	default:
		return false
	}
}

func (s *eventSink) loop() {
	for e := range s.q {
		if err := s.send(e.msg, e.prio, e.fields); err != nil && e.fallback != nil {
			e.fallback(err)
		}
	}
}

func (s *eventSink) send(msg string, prio journal.Priority, fields map[string]string) error {
	if s.path == journalwriter.DefaultSocket {
		return journal.Send(msg, prio, fields)
	}
	var e journalwriter.Entry
	e.Add("PRIORITY", strconv.Itoa(int(prio)))
	e.Add("MESSAGE", msg)
	for k, v := range fields {
		e.Add(k, v)
	}
	b, err := journalwriter.Encode(e)
	if err != nil {
		return err
	}
	if s.sender == nil {
		if s.sender, err = journalwriter.NewSender(s.path); err != nil {
			return err
		}
	}
	return s.sender.Send(b)
}

// event logs one of recd's structured events: the line goes to recd's log (stderr) unless
// recd runs under systemd (Options.EventsToJournalOnly), where stderr is the journal
// already; the entry, with msgID and fields, goes to the journal. If the journal does not
// take it under systemd, the line is printed after all, so nothing is lost.
func (d *Daemon) event(msgID string, prio journal.Priority, line string, fields map[string]string) {
	if !d.opts.EventsToJournalOnly {
		d.opts.Log.Print(line)
	}
	all := make(map[string]string, len(fields)+2)
	for k, v := range fields {
		if v != "" {
			all[k] = v
		}
	}
	all["MESSAGE_ID"] = msgID
	all["SYSLOG_IDENTIFIER"] = "recd"
	var fallback func(error)
	if d.opts.EventsToJournalOnly {
		fallback = func(err error) { d.opts.Log.Printf("%s (journal: %v)", line, err) }
	}
	if !d.events.enqueue(queuedEvent{msg: line, prio: prio, fields: all, fallback: fallback}) && fallback != nil {
		fallback(errors.New("too many events waiting for journald"))
	}
}

// refusedEvent logs that a recording could not be made or a client was refused.
func (d *Daemon) refusedEvent(user string, uid uint32, pid int32, reason string) {
	d.event(msgIDRefused, journal.PriWarning,
		"recording refused: user="+logValue(user)+" uid="+strconv.FormatUint(uint64(uid), 10)+
			" pid="+strconv.Itoa(int(pid))+" reason="+logValue(reason),
		map[string]string{"RECD_USER": user, "RECD_REASON": reason})
}
