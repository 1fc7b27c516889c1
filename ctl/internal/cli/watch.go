package cli

// recctl watch: the live, read-only view of a session being recorded, streamed by recd
// as it receives the session's output (internal/proto/watch.go).

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/recd-dev/recd/internal/proto"
	"github.com/recd-dev/recd/internal/recording"
)

const watchHelp = "Shows a session being recorded as it happens: recd sends what the session's terminal\n" +
	"shows as soon as it receives it from the recorder (before it is in the journal). The\n" +
	"view starts with the current screen (the recent output, from the last screen clear),\n" +
	"then follows live. It is read-only: nothing typed here reaches the session. recd logs\n" +
	"who watches which session.\n\n" +
	"The bottom line shows the user, terminal and remote host, the time since the session\n" +
	"started, the bytes of output so far, the session's window size and LIVE. A watcher too\n" +
	"slow to keep up skips ahead: the status line says how many bytes were skipped and the\n" +
	"screen is redrawn from the recent output.\n\n" +
	"Keys:\n" +
	"  q              quit (Ctrl-C too)\n\n" +
	"The view ends when the session ends (the recording's status is printed), when recd\n" +
	"stops, or with q. recctl sessions lists the IDs of the sessions being recorded.\n\n" +
	"Without a terminal on standard input and output (a pipe or a file), or with --raw, the\n" +
	"output bytes are written as they arrive, with no status line; messages go to standard\n" +
	"error.\n\n" +
	"Options:\n" +
	"  --raw          write the output bytes, even on a terminal\n\n" +
	"Access: root and members of the group named by `auditors` in the [access] section of\n" +
	"recd.conf (recd checks the caller's uid); anyone else gets an error and exit status 4.\n\n" +
	"Exit status: 0 the session ended or the view was quit, 1 the connection to recd broke,\n" +
	"2 usage error or no such session, 3 recd is not running, 4 permission denied.\n\n" +
	"Examples:\n" +
	"  recctl watch 6211b985bd1e49908726bd24cd514099-600-b0b9\n" +
	"  recctl watch --raw ID | tee session.out"

func watchSetup(fs *flag.FlagSet) { fs.Bool("raw", false, "") }

// liveFrame is one frame of the watch stream: events, or the end, or a read error.
type liveFrame struct {
	evs []proto.LiveEvent
	end *proto.WatchEnd
	err error
}

// openWatch asks recd for the live view of rec. It returns the connection and recd's
// reply, or nil and the exit status after printing why.
func (a *App) openWatch(rec string) (net.Conn, *proto.WatchReply, int) {
	c, err := net.DialTimeout("unix", a.SocketPath, 250*time.Millisecond)
	if err != nil {
		return nil, nil, a.daemonError("watch", fmt.Errorf("%w (%s: %v)", errNoDaemon, a.SocketPath, err))
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	var reply proto.WatchReply
	err = proto.WriteJSON(c, proto.Request{Op: proto.OpWatch, Watch: &proto.WatchRequest{Rec: rec}})
	if err == nil {
		err = proto.ReadJSON(c, &reply)
	}
	if err != nil {
		c.Close()
		fmt.Fprintf(a.Stderr, "recctl: watch: asking recd: %v\n", err)
		return nil, nil, ExitUnreachable
	}
	_ = c.SetDeadline(time.Time{})
	switch {
	case reply.OK && reply.Recording != nil:
		return c, &reply, ExitOK
	case reply.Denied:
		fmt.Fprintf(a.Stderr, "recctl: watch: %s\n", reply.Error)
		c.Close()
		return nil, nil, ExitNotRoot
	case reply.NotFound:
		fmt.Fprintf(a.Stderr, "recctl: watch: %s (recctl sessions lists the sessions being recorded)\n", reply.Error)
	case reply.OK:
		fmt.Fprintf(a.Stderr, "recctl: watch: recd's answer names no recording\n")
	default:
		fmt.Fprintf(a.Stderr, "recctl: watch: recd refused: %s\n", reply.Error)
	}
	c.Close()
	return nil, nil, ExitUsage
}

// readLive reads the stream until its end or an error, then closes ch.
func readLive(c net.Conn, ch chan<- liveFrame) {
	defer close(ch)
	for {
		f, err := proto.ReadFrame(c)
		if err != nil {
			ch <- liveFrame{err: err}
			return
		}
		switch f.Type {
		case proto.TypeLive:
			evs, err := proto.DecodeLive(f.Payload)
			ch <- liveFrame{evs: evs, err: err}
			if err != nil {
				return
			}
		case proto.TypeJSON:
			var end proto.WatchEnd
			err := proto.ReadJSON(bytes.NewReader(frameBytes(f)), &end)
			ch <- liveFrame{end: &end, err: err}
			return
		default:
			ch <- liveFrame{err: fmt.Errorf("unexpected frame type %q from recd", f.Type)}
			return
		}
	}
}

// frameBytes re-encodes f, so that proto.ReadJSON can decode it strictly.
func frameBytes(f proto.Frame) []byte {
	var b bytes.Buffer
	_ = proto.WriteFrame(&b, f)
	return b.Bytes()
}

func (a *App) cmdWatch(fs *flag.FlagSet, args []string) int {
	ids, code, ok := a.parseArgs("watch", fs, args)
	if !ok {
		return code
	}
	if len(ids) != 1 {
		return a.errorf("watch: name exactly one recording (recctl watch ID; recctl sessions lists them)")
	}
	c, reply, code := a.openWatch(ids[0])
	if c == nil {
		return code
	}
	defer c.Close()
	ctx, cancel := signalContext()
	defer cancel()
	go func() {
		<-ctx.Done()
		c.Close() // ends the read: quitting never waits for recd
	}()
	frames := make(chan liveFrame, 16)
	go readLive(c, frames)
	out, isFile := a.Stdout.(*os.File)
	var end *proto.WatchEnd
	var err error
	if !flagBool(fs, "raw") && isFile && isTerminal(out) && isTerminal(playInput) {
		tw := &ttyWatcher{out: out, in: playInput, rec: *reply.Recording, bytes: reply.Received}
		end, err = tw.run(ctx, frames)
	} else {
		end, err = watchRaw(ctx, a.Stdout, a.Stderr, frames)
	}
	switch {
	case end != nil:
		msg := fmt.Sprintf("recording %s of %s ended: %s", reply.Recording.Rec, reply.Recording.User, end.Status)
		if end.Status == proto.WatchStopped {
			msg = fmt.Sprintf("recd stopped; the recording %s goes on with the next recd (watch it again then)", reply.Recording.Rec)
		} else if end.Reason != "" {
			msg += " (" + end.Reason + ")"
		}
		fmt.Fprintf(a.Stderr, "recctl: watch: %s\n", msg)
		return ExitOK
	case ctx.Err() != nil:
		return ExitOK
	case err != nil:
		fmt.Fprintf(a.Stderr, "recctl: watch: the live view of %s broke off: %v\n", reply.Recording.Rec, err)
		return ExitNegative
	}
	return ExitOK
}

// watchRaw writes the output bytes as they come, the snapshot first; notes go to errw.
func watchRaw(ctx context.Context, w, errw io.Writer, frames <-chan liveFrame) (*proto.WatchEnd, error) {
	for {
		select {
		case <-ctx.Done():
			return nil, nil
		case f, ok := <-frames:
			if !ok {
				return nil, errors.New("recd closed the connection")
			}
			for _, e := range f.evs {
				switch e.Kind {
				case proto.LiveOutput, proto.LiveSnapshot:
					if _, err := w.Write(e.Data); err != nil {
						return nil, err
					}
				case proto.LiveSkipped:
					fmt.Fprintf(errw, "recctl: watch: fell behind: %d bytes of output skipped; going on from the recent output\n", proto.CountOf(e.Data))
				}
			}
			if f.err != nil {
				if errors.Is(f.err, io.EOF) {
					return nil, errors.New("recd closed the connection")
				}
				return nil, f.err
			}
			if f.end != nil {
				return f.end, nil
			}
		}
	}
}

// ttyWatcher is the interactive view: the session's output in a scroll region above a
// status line, like play's.
type ttyWatcher struct {
	out, in *os.File
	rec     proto.ActiveRecording
	bytes   uint64 // output bytes of the session so far
	window  *proto.Window

	rows, cols int
	skipped    uint64
	ended      string
}

func (t *ttyWatcher) region() string { return scrollRegion(t.rows) }

func (t *ttyWatcher) status() string {
	if t.rows < 3 {
		return "" // no status line: skip building its text
	}
	return statusLine(t.rows, watchStatus(t.rec, time.Now(), t.bytes, t.window, t.skipped, t.ended, t.cols))
}

// watchStatus is the status line's text: who, since when, how much, and LIVE (or how the
// session ended), cut to cols.
func watchStatus(rec proto.ActiveRecording, now time.Time, n uint64, win *proto.Window, skipped uint64, ended string, cols int) string {
	who := rec.User
	if tty := sessionTTY(rec); tty != "" {
		who += "  " + tty
	}
	if rec.RHost != "" {
		who += "  from " + rec.RHost
	}
	elapsed := "-"
	if t, err := time.Parse(time.RFC3339Nano, rec.Started); err == nil {
		elapsed = clock(now.Sub(t))
	}
	s := fmt.Sprintf(" %s  %s  %d bytes", who, elapsed, n)
	if win != nil {
		s += fmt.Sprintf("  %dx%d", win.Cols, win.Rows)
	}
	state := "LIVE"
	if ended != "" {
		state = "ENDED: " + ended
	}
	s += "  " + state
	if skipped > 0 {
		s += fmt.Sprintf("  (%d bytes skipped: too slow)", skipped)
	}
	s += "  | q quit"
	if r := []rune(s); cols > 0 && len(r) > cols {
		s = string(r[:cols])
	}
	return s
}

func (t *ttyWatcher) run(ctx context.Context, frames <-chan liveFrame) (*proto.WatchEnd, error) {
	fd := int(t.in.Fd())
	old, err := makeRaw(fd)
	if err != nil {
		return nil, fmt.Errorf("setting up the terminal: %w", err)
	}
	defer setTermios(fd, old)
	t.cols, t.rows = winSize(int(t.out.Fd()))
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	defer signal.Stop(winch)
	keys := make(chan key, 64)
	go readKeys(t.in, keys)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()

	var buf bytes.Buffer
	flush := func() error {
		buf.WriteString(t.status())
		_, err := t.out.Write(buf.Bytes())
		buf.Reset()
		return err
	}
	defer func() {
		fmt.Fprintf(t.out, "\x1b[r\x1b[%d;1H\x1b[2K\x1b[0m\x1b[?25h\r\n", t.rows)
	}()
	buf.WriteString(recording.Reset + t.region())
	if err := flush(); err != nil {
		return nil, err
	}
	for {
		select {
		case <-ctx.Done():
			return nil, nil
		case <-winch:
			t.cols, t.rows = winSize(int(t.out.Fd()))
			buf.WriteString("\x1b7" + t.region() + "\x1b8")
		case <-tick.C:
		case k, ok := <-keys:
			if !ok {
				keys = nil
				break
			}
			if k.b == 'q' {
				return nil, nil
			}
		case f, ok := <-frames:
			if !ok {
				return nil, errors.New("recd closed the connection")
			}
			for _, e := range f.evs {
				t.show(&buf, e)
			}
			switch {
			case f.err != nil:
				_ = flush()
				if errors.Is(f.err, io.EOF) {
					return nil, errors.New("recd closed the connection")
				}
				return nil, f.err
			case f.end != nil:
				t.ended = f.end.Status
				return f.end, flush()
			}
		}
		if err := flush(); err != nil {
			return nil, err
		}
	}
}

// show writes one live event to buf.
func (t *ttyWatcher) show(buf *bytes.Buffer, e proto.LiveEvent) {
	switch e.Kind {
	case proto.LiveWindow:
		w := proto.WindowOf(e.Data)
		t.window = &w
	case proto.LiveSkipped:
		n := proto.CountOf(e.Data)
		t.skipped += n
		t.bytes += n
	case proto.LiveSnapshot:
		// The screen from the recent output: on a reset terminal.
		buf.WriteString(recording.Reset + t.region())
		buf.Write(e.Data)
	case proto.LiveOutput:
		t.bytes += uint64(len(e.Data))
		buf.Write(e.Data)
		if strings.Contains(string(e.Data), recording.Reset) {
			// The session reset its terminal, and with it the scroll region.
			buf.WriteString("\x1b7" + t.region() + "\x1b8")
		}
	}
}
