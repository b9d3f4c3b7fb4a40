package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"
)

// stageClock prints, for build -v, the wall and CPU time each stage took
// since the previous one ended.
type stageClock struct {
	w    io.Writer
	last time.Time
	cpu  time.Duration
}

func newStageClock(w io.Writer) *stageClock {
	c, _ := cpuTime()
	return &stageClock{w: w, last: time.Now(), cpu: c}
}

// done ends the stage named name.
func (s *stageClock) done(name string) {
	now := time.Now()
	cpu := "-"
	if c, ok := cpuTime(); ok {
		cpu = fmt.Sprintf("%.2fs", (c - s.cpu).Seconds())
		s.cpu = c
	}
	fmt.Fprintf(s.w, "%-10s %7.2fs wall %7s CPU\n", name, now.Sub(s.last).Seconds(), cpu)
	s.last = now
}

// logStages is a log writer whose lines (the compiler's stage messages)
// each end a stage: "calibration done (300 samples)" is timed as calibrate.
type logStages struct {
	s    *stageClock
	w    io.Writer
	line []byte
}

func (l *logStages) Write(b []byte) (int, error) {
	l.line = append(l.line, b...)
	for {
		i := bytes.IndexByte(l.line, '\n')
		if i < 0 {
			return len(b), nil
		}
		msg := string(l.line[:i])
		l.line = l.line[i+1:]
		l.s.done(logStage(msg))
		fmt.Fprintln(l.w, msg)
	}
}

// logStage names the stage a compiler log line ends.
func logStage(msg string) string {
	for _, p := range []struct{ prefix, stage string }{
		{"QConfig(", "load"},
		{"equalization done", "equalize"},
		{"calibration done", "calibrate"},
		{"convert done", "convert"},
		{"bias correction done", "correct"},
		{"equalization kept", "compare"},
		{"equalization dropped", "compare"},
	} {
		if strings.HasPrefix(msg, p.prefix) {
			return p.stage
		}
	}
	return "-"
}
