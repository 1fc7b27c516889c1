package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/recd-dev/recd/internal/proto"
)

// The attacks. Each runs until its count or duration is used up, then prints one JSON
// object of what it saw on stdout and exits 0 (2 on a usage or setup error).
//
//	recdclient flood N DURATION        keep N connections open that send nothing, reopening
//	                                   each as soon as recd closes it
//	recdclient churn N DURATION        N loops of connect and close at once, as fast as they
//	                                   go (a flood that does not wait for recd)
//	recdclient hold N DURATION         open N connections that send nothing, once, and hold
//	                                   them; reports how many recd closed
//	recdclient slowloris M DURATION    M connections, half sending 2 bytes of a header, half
//	                                   nothing; reports how long recd let them live
//	recdclient malformed N             N connections, each one malformed frame
//	recdclient oversized N             N connections, each announcing a frame over 1 MiB
//	recdclient claim-session USER N    N session-open requests for USER's login
//	recdclient status                  one status request (a well-behaved client)
//	recdclient pam-bench N USER        as pam_recd does (root): N session-open and
//	                                   session-close exchanges within 250 ms each; latencies
var attacks = map[string]func(args []string) (any, error){
	"flood":         flood,
	"hold":          hold,
	"churn":         churn,
	"slowloris":     slowloris,
	"malformed":     malformed,
	"oversized":     oversized,
	"claim-session": claimSession,
	"status":        status,
	"pam-bench":     pamBench,
}

func runAttack(name string, args []string) {
	res, err := attacks[name](args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "recdclient:", err)
		os.Exit(2)
	}
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
	os.Exit(0)
}

func argInt(args []string, i int, name string) (int, error) {
	if len(args) <= i {
		return 0, fmt.Errorf("missing %s", name)
	}
	return strconv.Atoi(args[i])
}

func argDur(args []string, i int) (time.Duration, error) {
	if len(args) <= i {
		return 0, errors.New("missing DURATION")
	}
	return time.ParseDuration(args[i])
}

func dial() (net.Conn, error) {
	return net.DialTimeout("unix", proto.SocketPath, 2*time.Second)
}

// waitClosed blocks until recd closes c (or limit passes) and reports whether recd sent
// an error frame first.
func waitClosed(c net.Conn, limit time.Duration) (answered bool, closed bool) {
	_ = c.SetReadDeadline(time.Now().Add(limit))
	var resp proto.Response
	if err := proto.ReadJSON(c, &resp); err == nil {
		answered = true
		var b [1]byte
		_, err = c.Read(b[:])
		return true, err != nil && !isTimeout(err)
	} else {
		return false, !isTimeout(err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

type floodResult struct {
	Connects      int64 `json:"connects"`
	DialErrors    int64 `json:"dial_errors"`
	Refused       int64 `json:"refused"`         // recd answered with an error and closed
	ClosedByRecd  int64 `json:"closed_by_recd"`  // closed without an answer (made room, timeout)
	MaxLifetimeMS int64 `json:"max_lifetime_ms"` // of a connection recd closed
}

func flood(args []string) (any, error) {
	n, err := argInt(args, 0, "N")
	if err != nil {
		return nil, err
	}
	dur, err := argDur(args, 1)
	if err != nil {
		return nil, err
	}
	var r floodResult
	end := time.Now().Add(dur)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				c, err := dial()
				if err != nil {
					atomic.AddInt64(&r.DialErrors, 1)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				atomic.AddInt64(&r.Connects, 1)
				start := time.Now()
				answered, closed := waitClosed(c, time.Until(end))
				c.Close()
				if !closed {
					continue
				}
				if answered {
					atomic.AddInt64(&r.Refused, 1)
				} else {
					atomic.AddInt64(&r.ClosedByRecd, 1)
				}
				maxInt64(&r.MaxLifetimeMS, time.Since(start).Milliseconds())
			}
		}()
	}
	wg.Wait()
	return r, nil
}

func maxInt64(p *int64, v int64) {
	for {
		old := atomic.LoadInt64(p)
		if v <= old || atomic.CompareAndSwapInt64(p, old, v) {
			return
		}
	}
}

func churn(args []string) (any, error) {
	n, err := argInt(args, 0, "N")
	if err != nil {
		return nil, err
	}
	dur, err := argDur(args, 1)
	if err != nil {
		return nil, err
	}
	var connects, dialErrors int64
	end := time.Now().Add(dur)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				c, err := dial()
				if err != nil {
					atomic.AddInt64(&dialErrors, 1)
					continue
				}
				atomic.AddInt64(&connects, 1)
				c.Close()
			}
		}()
	}
	wg.Wait()
	return map[string]int64{"connects": connects, "dial_errors": dialErrors, "per_second": connects * int64(time.Second) / int64(dur)}, nil
}

type holdResult struct {
	Opened       int   `json:"opened"`
	ClosedByRecd int64 `json:"closed_by_recd"`
}

func hold(args []string) (any, error) {
	n, err := argInt(args, 0, "N")
	if err != nil {
		return nil, err
	}
	dur, err := argDur(args, 1)
	if err != nil {
		return nil, err
	}
	end := time.Now().Add(dur)
	var r holdResult
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		c, err := dial()
		if err != nil {
			continue
		}
		r.Opened++
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			_ = c.SetReadDeadline(end)
			if _, err := io.Copy(io.Discard, c); err == nil {
				atomic.AddInt64(&r.ClosedByRecd, 1)
			}
		}()
	}
	fmt.Fprintf(os.Stderr, "holding %d connections\n", r.Opened)
	wg.Wait()
	return r, nil
}

type lorisResult struct {
	Connects      int64 `json:"connects"`
	Dropped       int64 `json:"dropped"` // closed by recd
	MaxLifetimeMS int64 `json:"max_lifetime_ms"`
	P50LifetimeMS int64 `json:"p50_lifetime_ms"`
}

func slowloris(args []string) (any, error) {
	m, err := argInt(args, 0, "M")
	if err != nil {
		return nil, err
	}
	dur, err := argDur(args, 1)
	if err != nil {
		return nil, err
	}
	var r lorisResult
	var mu sync.Mutex
	var lifetimes []int64
	end := time.Now().Add(dur)
	var wg sync.WaitGroup
	for i := 0; i < m; i++ {
		wg.Add(1)
		go func(half bool) {
			defer wg.Done()
			for time.Now().Before(end) {
				c, err := dial()
				if err != nil {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				atomic.AddInt64(&r.Connects, 1)
				start := time.Now()
				if half {
					_, _ = c.Write([]byte{0, 0}) // half of a 4-byte length
				}
				_ = c.SetReadDeadline(end)
				_, err = io.Copy(io.Discard, c)
				c.Close()
				if err == nil { // EOF: recd closed it
					atomic.AddInt64(&r.Dropped, 1)
					ms := time.Since(start).Milliseconds()
					maxInt64(&r.MaxLifetimeMS, ms)
					mu.Lock()
					lifetimes = append(lifetimes, ms)
					mu.Unlock()
				}
			}
		}(i%2 == 1)
	}
	wg.Wait()
	if len(lifetimes) > 0 {
		sort.Slice(lifetimes, func(i, j int) bool { return lifetimes[i] < lifetimes[j] })
		r.P50LifetimeMS = lifetimes[len(lifetimes)/2]
	}
	return r, nil
}

type frameResult struct {
	Sent     int    `json:"sent"`
	Answered int    `json:"answered"` // an error frame, then the connection closed
	Open     int    `json:"open"`     // still open after the answer: a failure of recd
	Other    int    `json:"other"`
	Sample   string `json:"sample,omitempty"`
}

// frame is a frame whose length is right: the body is malformed, not the framing.
func frame(body string) []byte {
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(body)))
	return append(hdr[:], body...)
}

// badFrames are malformed frames: wrong type, broken JSON, unknown fields, trailing data,
// the wrong JSON type, an empty frame.
var badFrames = [][]byte{
	frame("X{}"),
	frame(`J{"x":`),
	frame(`J{"op":"status",`),
	frame(`J{"op":"status","a":1}`),
	frame(`J[]`),
	frame(""),
	frame(`J{}{}{}{}`),
	frame("J\xff\xfe"),
}

func sendFrames(n int, frame func(i int) []byte) frameResult {
	var r frameResult
	for i := 0; i < n; i++ {
		c, err := dial()
		if err != nil {
			r.Other++
			continue
		}
		r.Sent++
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Write(frame(i))
		var resp proto.Response
		if err := proto.ReadJSON(c, &resp); err != nil || resp.OK {
			r.Other++
			c.Close()
			continue
		}
		if r.Sample == "" {
			r.Sample = resp.Error
		}
		var b [1]byte
		if _, err := c.Read(b[:]); err == nil || isTimeout(err) {
			r.Open++
		} else {
			r.Answered++
		}
		c.Close()
	}
	return r
}

func malformed(args []string) (any, error) {
	n, err := argInt(args, 0, "N")
	if err != nil {
		return nil, err
	}
	return sendFrames(n, func(i int) []byte { return badFrames[i%len(badFrames)] }), nil
}

func oversized(args []string) (any, error) {
	n, err := argInt(args, 0, "N")
	if err != nil {
		return nil, err
	}
	body := make([]byte, 64<<10)
	return sendFrames(n, func(i int) []byte {
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], uint32(proto.MaxFrame+1+i))
		if i%2 == 0 {
			binary.BigEndian.PutUint32(hdr[:], 0xffffffff)
		}
		return append(hdr[:], body...)
	}), nil
}

type claimResult struct {
	Sent    int    `json:"sent"`
	Refused int    `json:"refused"`
	Granted int    `json:"granted"`
	Other   int    `json:"other"`
	Sample  string `json:"sample,omitempty"`
}

func claimSession(args []string) (any, error) {
	if len(args) < 1 {
		return nil, errors.New("missing USER")
	}
	n, err := argInt(args, 1, "N")
	if err != nil {
		return nil, err
	}
	var r claimResult
	for i := 0; i < n; i++ {
		c, err := dial()
		if err != nil {
			r.Other++
			continue
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		op := proto.OpSessionOpen
		if i%2 == 1 {
			op = proto.OpSessionClose
		}
		r.Sent++
		resp, err := exchange(c, proto.Request{Op: op, User: args[0], Service: "sshd", TTY: "ssh", RHost: "10.6.6.6", PID: os.Getpid()})
		c.Close()
		switch {
		case err != nil:
			r.Other++
		case resp.OK:
			r.Granted++
		default:
			r.Refused++
			r.Sample = resp.Error
		}
	}
	return r, nil
}

func exchange(c net.Conn, req proto.Request) (proto.Response, error) {
	var resp proto.Response
	if err := proto.WriteJSON(c, req); err != nil {
		return resp, err
	}
	err := proto.ReadJSON(c, &resp)
	return resp, err
}

func status(args []string) (any, error) {
	start := time.Now()
	c, err := dial()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	resp, err := exchange(c, proto.Request{Op: "status"})
	if err != nil {
		return nil, err
	}
	if !resp.OK {
		return nil, fmt.Errorf("status refused: %s", resp.Error)
	}
	return map[string]any{"ok": true, "ms": float64(time.Since(start).Microseconds()) / 1000}, nil
}

type benchResult struct {
	N        int     `json:"n"`
	Failures int     `json:"failures"`
	P50MS    float64 `json:"p50_ms"`
	P99MS    float64 `json:"p99_ms"`
	MaxMS    float64 `json:"max_ms"`
	FirstErr string  `json:"first_error,omitempty"`
}

// pamBudget is pam_recd's RECD_REG_BUDGET_MS: connect, send and answer together.
const pamBudget = 250 * time.Millisecond

// pamDial connects as pam_recd does: as root to root's own socket first, to the public
// one when that is not there or nobody listens.
func pamDial() (net.Conn, error) {
	if os.Geteuid() == 0 {
		c, err := net.DialTimeout("unix", proto.RootSocketPath, pamBudget)
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, syscall.ENOENT) && !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.EACCES) {
			return nil, err
		}
	}
	return net.DialTimeout("unix", proto.SocketPath, pamBudget)
}

// pamBench does what pam_recd does for each login and logout: a fresh connection, one
// session-open (then session-close) frame, the answer, within pamBudget. A registration
// that does not make it within the budget is a failure, as it is for pam_recd.
func pamBench(args []string) (any, error) {
	n, err := argInt(args, 0, "N")
	if err != nil {
		return nil, err
	}
	if len(args) < 2 {
		return nil, errors.New("missing USER")
	}
	user := args[1]
	var lat []time.Duration
	r := benchResult{}
	one := func(op string) {
		start := time.Now()
		err := func() error {
			c, err := pamDial()
			if err != nil {
				return err
			}
			defer c.Close()
			_ = c.SetDeadline(start.Add(pamBudget))
			resp, err := exchange(c, proto.Request{Op: op, User: user, Service: "sshd", TTY: "ssh",
				RHost: "127.0.0.1", PID: os.Getpid(), AuditSession: proto.AuditSessionUnset})
			if err != nil {
				return err
			}
			if !resp.OK {
				return fmt.Errorf("refused: %s", resp.Error)
			}
			return nil
		}()
		d := time.Since(start)
		lat = append(lat, d)
		if err != nil {
			r.Failures++
			if r.FirstErr == "" {
				r.FirstErr = err.Error()
			}
		}
	}
	for i := 0; i < n; i++ {
		one(proto.OpSessionOpen)
		one(proto.OpSessionClose)
		time.Sleep(5 * time.Millisecond)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	r.N = len(lat)
	if len(lat) > 0 {
		r.P50MS = ms(lat[len(lat)/2])
		r.P99MS = ms(lat[(len(lat)*99+99)/100-1])
		r.MaxMS = ms(lat[len(lat)-1])
	}
	return r, nil
}
