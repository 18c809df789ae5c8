package agent

import (
	"os"
	"syscall"

	"github.com/codeexec/codeexec/agentproto"
)

// hostSignals are the signals the host may send to a step: those a user sends from a terminal
// or with kill. Stopping signals are left out: a stopped step would only wait for its time limit.
var hostSignals = map[string]syscall.Signal{
	"SIGINT":  syscall.SIGINT,
	"SIGTERM": syscall.SIGTERM,
	"SIGKILL": syscall.SIGKILL,
	"SIGQUIT": syscall.SIGQUIT,
	"SIGHUP":  syscall.SIGHUP,
	"SIGUSR1": syscall.SIGUSR1,
	"SIGUSR2": syscall.SIGUSR2,
}

// listen acts on the host's frames while the job runs. A frame it does not know is skipped: the
// host is trusted, and a frame of a newer host must not cost the job. The end of the stream (or
// a stream it cannot read further) ends the input, as StdinEOF does.
func (j *job) listen(host *agentproto.Reader) {
	defer j.endInput()
	if host == nil {
		return
	}
	for {
		kind, payload, err := host.Next()
		if err != nil {
			return
		}
		switch kind {
		case agentproto.KindStdin:
			j.give(payload)
		case agentproto.KindStdinEOF:
			j.endInput()
		case agentproto.KindSignal:
			if sig, ok := hostSignals[string(payload)]; ok {
				j.signal(sig)
			}
		}
	}
}

// give queues input for the running run step, or the next one. Input of a job that is not
// interactive, or after its end, has nowhere to go and is dropped.
func (j *job) give(p []byte) {
	if j.input == nil || j.inputEnded || len(p) == 0 {
		return
	}
	select {
	case j.input <- p:
	case <-j.over:
	}
}

// endInput closes the input once; only listen calls it, so the flag needs no lock.
func (j *job) endInput() {
	if j.input != nil && !j.inputEnded {
		close(j.input)
		j.inputEnded = true
	}
}

func (j *job) signal(sig syscall.Signal) {
	// Under the lock, so that the group is the running step's and not a finished one's.
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.pgid > 0 {
		_ = syscall.Kill(-j.pgid, sig)
	}
}

func (j *job) setRunning(pgid int) {
	j.mu.Lock()
	j.pgid = pgid
	j.mu.Unlock()
}

// feed writes a step's stdin: its Stdin bytes, then, for a run of an interactive job, the host's
// input until the input ends or the step does. A chunk the step ended without reading is lost
// with it. Write errors (EPIPE: the program does not read its input) end the feeding quietly.
func feed(w *os.File, data []byte, input <-chan []byte, stepDone <-chan struct{}) {
	defer w.Close()
	if _, err := w.Write(data); err != nil || input == nil {
		return
	}
	for {
		select {
		case p, ok := <-input:
			if !ok {
				return
			}
			if _, err := w.Write(p); err != nil {
				return
			}
		case <-stepDone:
			return
		}
	}
}
