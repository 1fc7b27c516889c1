package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/recd-dev/recd/internal/journal"
	"github.com/recd-dev/recd/internal/recording"
	"github.com/recd-dev/recd/internal/tlog"
)

const playHelp = "Plays a recording's output in this terminal as it was recorded, with the pauses between\n" +
	"packets. Recordings made by recd, tlog-rec and tlog-rec-session play alike.\n\n" +
	"Keys (as in tlog-play, plus seeking):\n" +
	"  SPACE, p       pause / resume\n" +
	"  }  {           double / halve the speed (1/16x to 16x); BACKSPACE resets it to 1x\n" +
	"  .              show the next packet now (step, also while paused)\n" +
	"  → ←            seek forwards / backwards by 5 seconds\n" +
	"  G              go to the end; digits and ':' before G go to that time:\n" +
	"                 30G = 0:00:30, 1:30G = 0:01:30, 30:G = 0:30:00, 2::G = 2:00:00\n" +
	"  q              quit (Ctrl-C too)\n" +
	"Seeking backwards resets the terminal and re-renders the output from the start at once,\n" +
	"so the screen is exactly what it was at that time. The bottom line shows the position,\n" +
	"the length, the speed and whether playback is paused.\n\n" +
	"Without a terminal on standard input and output (a pipe or a file), or with --raw, the\n" +
	"output is written exactly as recorded, byte for byte, at once (paced like the recording\n" +
	"when --speed is given, from --goto on), with no status line and no terminal reset.\n" +
	"Playback ends at the end of the recording (with --follow, at recd's close entry).\n\n" +
	"Options:\n" +
	"  --speed X      play X times as fast (default 1; 0.5 is half speed)\n" +
	"  --goto TIME    start at TIME: start, end, or [[H:]M:]S[.mmm] (90, 1:30, 0:01:30.5)\n" +
	"  --paused       start paused (SPACE starts playing)\n" +
	"  --follow       when the end is reached, keep playing what the recording adds (a live\n" +
	"                 recording); stops at recd's close entry, or with q or Ctrl-C\n" +
	"  --lax          accept message id gaps (messages dropped by a rate limit), as\n" +
	"                 tlog-play --lax does; without it a gap stops playback with an error\n" +
	"  --raw          write the recorded output bytes, even on a terminal\n\n" +
	"Entries that name the recording but were not written by its recorder (forged) are not\n" +
	"played; a warning says how many there were (recctl verify says more).\n\n" +
	sourceHelp + "\n" + accessHelp + "\n" +
	"Exit status: 0 played to the end or quit, 1 the recording has a message that cannot be\n" +
	"played (what came before it was played), 2 usage error or recording not found,\n" +
	"4 permission denied.\n\n" +
	"Examples:\n" +
	"  recctl play 6211b985bd1e49908726bd24cd514099-600-b0b9\n" +
	"  recctl play ID --speed 4 --goto 10:00\n" +
	"  recctl play ID --follow\n" +
	"  recctl play ID --raw > session.out"

func playSetup(fs *flag.FlagSet) {
	fs.Float64("speed", 1, "")
	fs.String("goto", "", "")
	fs.Bool("paused", false, "")
	fs.Bool("follow", false, "")
	fs.Bool("lax", false, "")
	fs.Bool("raw", false, "")
	sourceFlags(fs)
}

// playInput is where the interactive player reads keys; tests replace it.
var playInput = os.Stdin

// parseGoto parses tlog-play's time syntax: "start", "end", or [[H:]M:]S[.mmm] where empty
// parts are 0 ("30:" is 30 minutes). It returns ms, or end=true.
func parseGoto(s string) (ms int64, end bool, err error) {
	switch s {
	case "", "start":
		return 0, false, nil
	case "end":
		return 0, true, nil
	}
	parts := strings.Split(s, ":")
	if len(parts) > 3 {
		return 0, false, fmt.Errorf("invalid time %q (expected start, end or [[H:]M:]S[.mmm])", s)
	}
	mult := []int64{1000, 60 * 1000, 3600 * 1000}
	for i := range parts {
		p := parts[len(parts)-1-i]
		if p == "" {
			continue
		}
		var v int64
		if i == 0 {
			f, err := strconv.ParseFloat(p, 64)
			if err != nil || f < 0 || strings.ContainsAny(p, "eEinfINFx+-") {
				return 0, false, fmt.Errorf("invalid time %q (expected start, end or [[H:]M:]S[.mmm])", s)
			}
			v = int64(f*1000 + 0.5)
		} else {
			n, err := strconv.ParseUint(p, 10, 32)
			if err != nil {
				return 0, false, fmt.Errorf("invalid time %q (expected start, end or [[H:]M:]S[.mmm])", s)
			}
			v = int64(n) * mult[i]
		}
		ms += v
	}
	return ms, false, nil
}

func (a *App) cmdPlay(fs *flag.FlagSet, args []string) int {
	ids, code, ok := a.parseArgs("play", fs, args)
	if !ok {
		return code
	}
	if len(ids) != 1 {
		return a.errorf("play: name exactly one recording (recctl play ID)")
	}
	speed := fs.Lookup("speed").Value.(flag.Getter).Get().(float64)
	if !(speed > 0 && speed <= 1000) {
		return a.errorf("play: --speed must be a number above 0 (and at most 1000)")
	}
	speedSet := false
	fs.Visit(func(f *flag.Flag) { speedSet = speedSet || f.Name == "speed" })
	gotoMs, gotoEnd, err := parseGoto(flagString(fs, "goto"))
	if err != nil {
		return a.errorf("play: --goto: %v", err)
	}
	lax, follow := flagBool(fs, "lax"), flagBool(fs, "follow")
	r, err := a.readerAccess()
	if err != nil {
		return a.errorf("play: %v", err)
	}
	ctx, cancel := signalContext()
	defer cancel()
	src := a.source(fs)
	rec, code := a.loadRecording(ctx, "play", r, src, ids[0])
	if rec == nil {
		return code
	}
	if n := len(rec.Foreign()); n > 0 {
		fmt.Fprintf(a.Stderr, "recctl: play: warning: %d entries name recording %s but were not written by its recorder; they are not played (recctl verify %s says more)\n", n, rec.ID, rec.ID)
	}
	dec := &tlog.Decoder{Lax: lax}
	var pkts []tlog.Packet
	var playErr error
	for _, e := range rec.Messages() {
		p, err := recording.DecodeEntry(dec, e)
		if err != nil {
			playErr = err
			break
		}
		pkts = append(pkts, p...)
	}
	var live <-chan followEvent
	if follow && playErr == nil && !rec.Closed() {
		live = a.followRecording(ctx, src, rec, dec)
	}
	player := recording.NewPlayer(pkts)
	out, isFile := a.Stdout.(*os.File)
	if !flagBool(fs, "raw") && isFile && isTerminal(out) && isTerminal(playInput) {
		tp := &ttyPlayer{out: out, in: playInput, p: player, speed: speed, paused: flagBool(fs, "paused"), live: live}
		if gotoEnd {
			gotoMs = player.Length()
		}
		playErr = errors.Join(playErr, tp.run(ctx, gotoMs))
	} else {
		playErr = errors.Join(playErr, playRaw(ctx, a.Stdout, player, speed, speedSet, gotoMs, live))
	}
	if playErr != nil {
		fmt.Fprintf(a.Stderr, "recctl: play: %v\n", playErr)
		return ExitNegative
	}
	return ExitOK
}

// followEvent is what the follower sends: packets, or the end (close entry or error).
type followEvent struct {
	pkts []tlog.Packet
	err  error
	done bool
}

// followRecording reads the entries added to rec after the ones loaded, until recd's
// close entry or the end of ctx, and sends their packets, decoded with dec.
func (a *App) followRecording(ctx context.Context, src journal.Source, rec *recording.Recording, dec *tlog.Decoder) <-chan followEvent {
	ch := make(chan followEvent, 16)
	cursor := rec.Entries[len(rec.Entries)-1].Cursor()
	go func() {
		defer close(ch)
		send := func(ev followEvent) bool {
			select {
			case ch <- ev:
				return true
			case <-ctx.Done():
				return false
			}
		}
		rd, err := src.Open(ctx, journal.Query{Matches: recording.Matches(rec.ID), AfterCursor: cursor, Follow: true})
		if err != nil {
			send(followEvent{err: err, done: true})
			return
		}
		defer rd.Close()
		for {
			e, err := rd.Next()
			if err != nil {
				if ctx.Err() == nil && err != io.EOF {
					send(followEvent{err: err, done: true})
				} else {
					send(followEvent{done: true})
				}
				return
			}
			rec.Add(e)
			if !rec.Genuine(e) {
				continue
			}
			if rec.Kind == recording.KindRecd && e.Get(recording.FieldEvent) == recording.EventClose {
				send(followEvent{done: true})
				return
			}
			if !e.Has(recording.FieldMessage) || (rec.Kind == recording.KindRecd && e.Get(recording.FieldEvent) != recording.EventMessage) {
				continue
			}
			pkts, err := recording.DecodeEntry(dec, e)
			if err != nil {
				send(followEvent{err: err, done: true})
				return
			}
			if !send(followEvent{pkts: pkts}) {
				return
			}
		}
	}()
	return ch
}

// playRaw writes the output bytes as recorded: at once, or paced by the recording's
// timing when the speed was given; then, when following, what the recording adds.
func playRaw(ctx context.Context, w io.Writer, p *recording.Player, speed float64, paced bool, gotoMs int64, live <-chan followEvent) error {
	if !paced {
		if err := p.AdvanceTo(w, p.Length()); err != nil {
			return err
		}
	} else {
		if err := p.SeekTo(w, gotoMs); err != nil {
			return err
		}
		if err := pace(ctx, w, p, speed); err != nil {
			return err
		}
	}
	for live != nil {
		select {
		case ev, ok := <-live:
			if !ok || ev.done {
				return ev.err
			}
			p.Append(ev.pkts)
			if err := p.AdvanceTo(w, p.Length()); err != nil {
				return err
			}
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

// pace writes the remaining packets in real time, divided by speed.
func pace(ctx context.Context, w io.Writer, p *recording.Player, speed float64) error {
	startWall, startRec := time.Now(), p.Pos()
	for {
		next, ok := p.NextTime()
		if !ok {
			return nil
		}
		due := startWall.Add(time.Duration(float64(next-startRec)/speed) * time.Millisecond)
		if d := time.Until(due); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return nil
			}
		}
		if err := p.AdvanceTo(w, next); err != nil {
			return err
		}
	}
}

// ttyPlayer is the interactive player.
type ttyPlayer struct {
	out, in *os.File
	p       *recording.Player
	speed   float64
	paused  bool
	live    <-chan followEvent

	rows, cols int
	anchorWall time.Time // wall time at which the recording time was anchorRec
	anchorRec  int64
	digits     string
	ended      bool // following ended (close entry)
	message    string
}

// key is a key press: a byte, or an arrow.
type key struct {
	b     byte
	arrow byte // 'C' right, 'D' left
}

// readKeys reads stdin and sends keys; escape sequences other than arrows (terminal
// replies, function keys) are dropped.
func readKeys(in io.Reader, ch chan<- key) {
	buf := make([]byte, 256)
	state := 0 // 0 ground, 1 ESC, 2 CSI/SS3
	for {
		n, err := in.Read(buf)
		for _, c := range buf[:n] {
			switch state {
			case 0:
				if c == 0x1b {
					state = 1
				} else {
					ch <- key{b: c}
				}
			case 1:
				if c == '[' || c == 'O' {
					state = 2
				} else {
					state = 0
				}
			case 2:
				if c >= 0x40 && c <= 0x7e {
					if c == 'C' || c == 'D' {
						ch <- key{arrow: c}
					}
					state = 0
				}
			}
		}
		if err != nil {
			close(ch)
			return
		}
	}
}

func (t *ttyPlayer) now() int64 {
	if t.paused {
		return t.p.Pos()
	}
	return t.anchorRec + int64(float64(time.Since(t.anchorWall).Milliseconds())*t.speed)
}

func (t *ttyPlayer) anchor() { t.anchorWall, t.anchorRec = time.Now(), t.p.Pos() }

// resetHook restores the scroll region right after the player's reset.
type resetHook struct {
	w     io.Writer
	after string
}

func (h resetHook) Write(p []byte) (int, error) {
	n, err := h.w.Write(p)
	if err == nil && string(p) == recording.Reset {
		_, err = io.WriteString(h.w, h.after)
	}
	return n, err
}

func (t *ttyPlayer) region() string { return scrollRegion(t.rows) }

func (t *ttyPlayer) status() string {
	if t.rows < 3 {
		return ""
	}
	state := "playing"
	if t.paused {
		state = "paused"
	}
	switch {
	case t.live != nil && !t.ended:
		state += ", live"
	case t.p.AtEnd():
		state = "end"
	}
	pos := t.p.Pos()
	if l := t.p.Length(); pos > l && t.p.AtEnd() {
		pos = l
	}
	sp := strconv.FormatFloat(t.speed, 'f', -1, 64)
	if t.speed < 1 {
		sp = "1/" + strconv.FormatFloat(1/t.speed, 'f', -1, 64)
	}
	s := fmt.Sprintf(" %s / %s  x%s  %s", msClock(pos), msClock(t.p.Length()), sp, state)
	if t.digits != "" {
		s += "  goto " + t.digits + "_"
	}
	if t.message != "" {
		s += "  " + t.message
	}
	s += "  | SPACE pause  {} speed  ←→ 5s  . step  G end  q quit"
	if r := []rune(s); len(r) > t.cols && t.cols > 0 {
		s = string(r[:t.cols])
	}
	return statusLine(t.rows, s)
}

func msClock(ms int64) string {
	s := ms / 1000
	return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
}

func (t *ttyPlayer) run(ctx context.Context, gotoMs int64) error {
	fd := int(t.in.Fd())
	old, err := makeRaw(fd)
	if err != nil {
		return fmt.Errorf("setting up the terminal: %w", err)
	}
	defer setTermios(fd, old)
	t.cols, t.rows = winSize(int(t.out.Fd()))
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	defer signal.Stop(winch)

	keys := make(chan key, 64)
	go readKeys(t.in, keys)

	var buf bytes.Buffer
	w := resetHook{w: &buf, after: t.region()}
	buf.WriteString(recording.Reset + t.region())
	if err := t.p.SeekTo(w, gotoMs); err != nil {
		return err
	}
	t.anchor()
	flush := func() error {
		buf.WriteString(t.status())
		_, err := t.out.Write(buf.Bytes())
		buf.Reset()
		return err
	}
	defer func() {
		fmt.Fprintf(t.out, "\x1b[r\x1b[%d;1H\x1b[2K\x1b[0m\x1b[?25h\r\n", t.rows)
	}()
	for {
		if !t.paused {
			if err := t.p.AdvanceTo(w, t.now()); err != nil {
				return err
			}
		}
		if t.p.AtEnd() && !t.paused && (t.live == nil || t.ended) {
			return flush()
		}
		if err := flush(); err != nil {
			return err
		}
		wait := 250 * time.Millisecond
		if next, ok := t.p.NextTime(); ok && !t.paused {
			if d := time.Duration(float64(next-t.now())/t.speed) * time.Millisecond; d < wait {
				wait = d
			}
		}
		if wait < 0 {
			wait = 0
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-winch:
			t.cols, t.rows = winSize(int(t.out.Fd()))
			w.after = t.region()
		case ev, ok := <-t.live:
			if !ok || ev.done {
				t.ended = true
				t.live = nil
				if ev.err != nil {
					t.message = "follow stopped: " + ev.err.Error()
				}
			} else {
				t.p.Append(ev.pkts)
			}
		case k, ok := <-keys:
			if !ok {
				keys = nil
				break
			}
			if quit, err := t.key(w, k); quit || err != nil {
				timer.Stop()
				return err
			}
		case <-timer.C:
		}
		timer.Stop()
	}
}

// key handles one key press; it reports whether to quit.
func (t *ttyPlayer) key(w io.Writer, k key) (bool, error) {
	t.message = ""
	seek := func(to int64) error {
		if to > t.p.Length() {
			to = t.p.Length()
		}
		err := t.p.SeekTo(w, to)
		t.anchor()
		return err
	}
	if k.arrow != 0 {
		t.digits = ""
		cur := t.now()
		if k.arrow == 'C' {
			return false, seek(cur + 5000)
		}
		return false, seek(cur - 5000)
	}
	if (k.b >= '0' && k.b <= '9') || k.b == ':' || (k.b == '.' && t.digits != "") {
		t.digits += string(k.b)
		return false, nil
	}
	digits := t.digits
	t.digits = ""
	switch k.b {
	case 'q':
		return true, nil
	case ' ', 'p':
		if t.paused {
			t.paused = false
			t.anchor()
		} else {
			t.anchorRec, t.paused = t.now(), true
			return false, t.p.AdvanceTo(w, t.anchorRec)
		}
	case '}':
		t.rescale(t.speed * 2)
	case '{':
		t.rescale(t.speed / 2)
	case 0x7f, 0x08:
		t.rescale(1)
	case '.':
		err := t.p.Step(w)
		t.anchor()
		return false, err
	case 'G':
		if digits == "" {
			return false, seek(t.p.Length())
		}
		ms, _, err := parseGoto(digits)
		if err != nil {
			t.message = "bad time " + digits
			return false, nil
		}
		return false, seek(ms)
	}
	return false, nil
}

func (t *ttyPlayer) rescale(s float64) {
	if s > 16 {
		s = 16
	}
	if s < 1.0/16 {
		s = 1.0 / 16
	}
	if !t.paused {
		_ = t.p.AdvanceTo(io.Discard, t.now()) // nothing is due that was not written
	}
	t.anchor()
	t.speed = s
}

// Terminal control through ioctl (standard library only).

func ioctl(fd int, req uintptr, arg unsafe.Pointer) error {
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), req, uintptr(arg)); e != 0 {
		return e
	}
	return nil
}

func isTerminal(f *os.File) bool {
	var t syscall.Termios
	return ioctl(int(f.Fd()), syscall.TCGETS, unsafe.Pointer(&t)) == nil
}

// makeRaw puts the terminal in raw mode as tlog-play does, keeping ISIG so that Ctrl-C
// still stops playback, and without output processing (the recording already has its CR LF),
// so the terminal gets the recorded bytes unchanged; it returns the previous settings.
func makeRaw(fd int) (*syscall.Termios, error) {
	var old syscall.Termios
	if err := ioctl(fd, syscall.TCGETS, unsafe.Pointer(&old)); err != nil {
		return nil, err
	}
	t := old
	t.Iflag &^= syscall.BRKINT | syscall.ICRNL | syscall.INPCK | syscall.ISTRIP | syscall.IXON
	t.Lflag &^= syscall.ECHO | syscall.ICANON | syscall.IEXTEN
	t.Oflag &^= syscall.OPOST
	t.Cc[syscall.VMIN], t.Cc[syscall.VTIME] = 1, 0
	if err := ioctl(fd, syscall.TCSETS, unsafe.Pointer(&t)); err != nil {
		return nil, err
	}
	return &old, nil
}

func setTermios(fd int, t *syscall.Termios) { _ = ioctl(fd, syscall.TCSETS, unsafe.Pointer(t)) }

func winSize(fd int) (cols, rows int) {
	var ws struct{ Row, Col, X, Y uint16 }
	if err := ioctl(fd, syscall.TIOCGWINSZ, unsafe.Pointer(&ws)); err != nil || ws.Col == 0 || ws.Row == 0 {
		return 80, 24
	}
	return int(ws.Col), int(ws.Row)
}
