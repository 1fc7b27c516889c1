package load

import (
	"bytes"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat (100 on Linux).
const clockTicks = 100

// proc is one process of the test host, as seen from outside (/proc of the machine).
type proc struct {
	pid, ppid    int
	comm         string
	start        uint64 // start time, ticks after boot (tells a reused PID apart)
	cpuTicks     uint64 // utime + stime
	rssKB, hwmKB int64
}

func readProc(pid int) (proc, error) {
	p := proc{pid: pid}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return p, err
	}
	// comm is in parentheses and may hold spaces or parentheses: cut at the last ')'.
	i, j := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if i < 0 || j < i {
		return p, fmt.Errorf("odd stat of %d", pid)
	}
	p.comm = string(b[i+1 : j])
	f := strings.Fields(string(b[j+1:]))
	// f[0] is field 3 (state); utime is field 14, stime 15, starttime 22.
	if len(f) < 20 {
		return p, fmt.Errorf("short stat of %d", pid)
	}
	p.ppid, _ = strconv.Atoi(f[1])
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	p.cpuTicks = ut + st
	p.start, _ = strconv.ParseUint(f[19], 10, 64)
	if s, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(s), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			switch k {
			case "VmRSS":
				p.rssKB = kb(v)
			case "VmHWM":
				p.hwmKB = kb(v)
			}
		}
	}
	return p, nil
}

func kb(v string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
	return n
}

// hostProcs returns the processes in the PID namespace of the test host whose init is
// initPID.
func hostProcs(initPID int) []proc {
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", initPID))
	if err != nil {
		return nil
	}
	ents, _ := os.ReadDir("/proc")
	var out []proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid)); err != nil || l != ns {
			continue
		}
		if p, err := readProc(pid); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// procKey identifies a process across samples.
type procKey struct {
	pid   int
	start uint64
}

// sampler follows recd (and its journal writer child), journald and the recorders while
// the run goes on: CPU time per process (the last value seen before it went; the chaos
// monkey samples right before a kill -9), peak memory.
type sampler struct {
	initPID int
	mu      sync.Mutex
	recdCPU map[procKey]uint64 // recd and writer children
	jrnCPU  map[procKey]uint64 // journald
	recdHWM int64              // peak VmHWM of a recd
	wrHWM   int64              // peak VmHWM of a writer child
	jrnHWM  int64
	recHWM  map[procKey]int64 // recorders' VmHWM
	recMax  int               // most recorders at once
	recdN   map[procKey]bool  // recd instances seen
	stop    chan struct{}
	done    chan struct{}
}

func newSampler(initPID int) *sampler {
	return &sampler{initPID: initPID, recdCPU: map[procKey]uint64{}, jrnCPU: map[procKey]uint64{},
		recHWM: map[procKey]int64{}, recdN: map[procKey]bool{}, stop: make(chan struct{}), done: make(chan struct{})}
}

func (s *sampler) run(every time.Duration) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		s.sample()
		select {
		case <-t.C:
		case <-s.stop:
			s.sample()
			return
		}
	}
}

func (s *sampler) close() {
	close(s.stop)
	<-s.done
}

// sample reads every process of the host once.
func (s *sampler) sample() {
	procs := hostProcs(s.initPID)
	recd := map[int]bool{}
	for _, p := range procs {
		if p.comm == "recd" {
			recd[p.pid] = true
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	recorders := 0
	for _, p := range procs {
		k := procKey{p.pid, p.start}
		switch {
		case p.comm == "recd":
			s.recdCPU[k] = max(s.recdCPU[k], p.cpuTicks)
			s.recdHWM = max(s.recdHWM, p.hwmKB)
			s.recdN[k] = true
		case recd[p.ppid] && p.comm == "tlog-rec-sessio":
			s.recdCPU[k] = max(s.recdCPU[k], p.cpuTicks)
			s.wrHWM = max(s.wrHWM, p.hwmKB)
		case p.comm == "systemd-journal":
			s.jrnCPU[k] = max(s.jrnCPU[k], p.cpuTicks)
			s.jrnHWM = max(s.jrnHWM, p.hwmKB)
		case p.comm == "recd-session":
			recorders++
			s.recHWM[k] = max(s.recHWM[k], p.hwmKB)
		}
	}
	s.recMax = max(s.recMax, recorders)
}

// Metrics are the resource figures of a run.
type Metrics struct {
	RecdCPUSeconds     float64 // recd and its journal writer children, all instances
	JournaldCPUSeconds float64
	RecdPeakRSSKB      int64 // VmHWM of recd
	WriterPeakRSSKB    int64 // VmHWM of the journal writer child
	JournaldPeakRSSKB  int64
	RecdInstances      int
	Recorders          int   // recorder processes seen
	RecordersAtOnce    int   // most at one time
	RecorderRSSMedKB   int64 // median of the recorders' peak RSS
	RecorderRSSMaxKB   int64
}

func (s *sampler) metrics() Metrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	var m Metrics
	for _, t := range s.recdCPU {
		m.RecdCPUSeconds += float64(t) / clockTicks
	}
	for _, t := range s.jrnCPU {
		m.JournaldCPUSeconds += float64(t) / clockTicks
	}
	m.RecdPeakRSSKB, m.WriterPeakRSSKB, m.JournaldPeakRSSKB = s.recdHWM, s.wrHWM, s.jrnHWM
	m.RecdInstances = len(s.recdN)
	var hwm []int64
	for _, v := range s.recHWM {
		if v > 0 {
			hwm = append(hwm, v)
		}
	}
	sort.Slice(hwm, func(i, j int) bool { return hwm[i] < hwm[j] })
	m.Recorders, m.RecordersAtOnce = len(s.recHWM), s.recMax
	if len(hwm) > 0 {
		m.RecorderRSSMedKB, m.RecorderRSSMaxKB = hwm[len(hwm)/2], hwm[len(hwm)-1]
	}
	return m
}
