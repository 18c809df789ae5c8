package agent

import (
	"strings"
	"testing"

	"github.com/codeexec/codeexec/agentproto"
)

func TestInteractiveInput(t *testing.T) {
	step := run(sh("read x; echo got $x; cat")...)
	step.Stdin = []byte("first\n")
	sess := startJob(t, &agentproto.Job{Runs: []agentproto.Step{step}, Interactive: true})
	evs := sess.until(isOutput("got first\n"))
	sess.send(agentproto.KindStdin, "second\n")
	sess.send(agentproto.KindStdin, "third\n")
	sess.send(agentproto.KindStdinEOF, "")
	steps, _ := parse(t, append(evs, sess.rest()...))
	if s := steps[0]; s.stdout != "got first\nsecond\nthird\n" || s.res.ExitCode != 0 {
		t.Errorf("stdout %q, result %+v", s.stdout, s.res)
	}
}

// Input typed before the run starts waits for it.
func TestInteractiveInputBeforeTheRun(t *testing.T) {
	sess := startJob(t, &agentproto.Job{Runs: []agentproto.Step{run("cat")}, Interactive: true})
	sess.send(agentproto.KindStdin, "early\n")
	sess.send(agentproto.KindStdinEOF, "")
	steps, _ := parse(t, sess.rest())
	if s := steps[0]; s.stdout != "early\n" || s.res.ExitCode != 0 {
		t.Errorf("stdout %q, result %+v", s.stdout, s.res)
	}
}

// The end of the host's stream ends the input.
func TestHostStreamEndIsStdinEOF(t *testing.T) {
	sess := startJob(t, &agentproto.Job{Runs: []agentproto.Step{run(sh("echo ready; cat")...)}, Interactive: true})
	evs := sess.until(isOutput("ready\n"))
	sess.send(agentproto.KindStdin, "last")
	sess.hostW.Close()
	steps, _ := parse(t, append(evs, sess.rest()...))
	if s := steps[0]; s.stdout != "ready\nlast" || s.res.ExitCode != 0 {
		t.Errorf("stdout %q, result %+v", s.stdout, s.res)
	}
}

// Frames the agent does not know, or cannot use, are skipped.
func TestOddHostFramesAreSkipped(t *testing.T) {
	sess := startJob(t, &agentproto.Job{Runs: []agentproto.Step{run(sh("echo ready; read x; echo got $x")...)}, Interactive: true})
	evs := sess.until(isOutput("ready\n"))
	sess.send('?', "what")
	sess.send(agentproto.KindJob, `{"runs":[]}`)
	sess.send(agentproto.KindSignal, "SIGSTOP")
	sess.send(agentproto.KindSignal, "sigint")
	sess.send(agentproto.KindSignal, "")
	sess.send(agentproto.KindStdin, "")
	sess.send(agentproto.KindStdin, "fine\n")
	sess.send(agentproto.KindStdinEOF, "")
	sess.send(agentproto.KindStdinEOF, "")
	sess.send(agentproto.KindStdin, "after the end\n")
	steps, done := parse(t, append(evs, sess.rest()...))
	if s := steps[0]; s.stdout != "ready\ngot fine\n" || s.res.ExitCode != 0 || s.res.Signal != "" || done.Error != "" {
		t.Errorf("stdout %q, result %+v, done %+v", s.stdout, s.res, done)
	}
}

// Input frames of a job that is not interactive go nowhere: the step's stdin is its Stdin.
func TestInputOfABatchJobIsDropped(t *testing.T) {
	step := run(sh("echo ready; cat; echo end")...)
	step.Stdin = []byte("given\n")
	sess := startJob(t, &agentproto.Job{Runs: []agentproto.Step{step}})
	// cat echoes the given input at once: it may come in the same chunk as "ready".
	evs := sess.until(func(ev agentproto.Event) bool {
		return ev.Kind == agentproto.KindStdout && strings.HasPrefix(string(ev.Data), "ready\n")
	})
	for range 40 { // more than the input queue holds
		sess.send(agentproto.KindStdin, "typed\n")
	}
	steps, _ := parse(t, append(evs, sess.rest()...))
	if s := steps[0]; s.stdout != "ready\ngiven\nend\n" {
		t.Errorf("stdout %q", s.stdout)
	}
}

func TestSignal(t *testing.T) {
	for _, sig := range []string{"SIGINT", "SIGTERM", "SIGKILL", "SIGUSR1"} {
		// Not interactive: signals still act. The program says it is ready itself: a shell run
		// with -c catches SIGINT and acts on it only once its foreground command ends, so a
		// signal that came between its echo and its fork would wait for the whole sleep.
		sess := startJob(t, &agentproto.Job{Runs: []agentproto.Step{run("perl", "-e", `$| = 1; print "ready\n"; sleep 30`)}})
		evs := sess.until(isOutput("ready\n"))
		sess.send(agentproto.KindSignal, sig)
		steps, _ := parse(t, append(evs, sess.rest()...))
		if r := steps[0].res; r.Outcome != agentproto.Exited || r.Signal != sig || r.ExitCode <= 128 {
			t.Errorf("%s: result %+v", sig, r)
		}
	}
}

// The host validates signals against agentproto.Signals; the agent must deliver each of them.
func TestHostSignalsAreTheProtocols(t *testing.T) {
	if len(hostSignals) != len(agentproto.Signals) {
		t.Errorf("agent knows %d signals, the protocol lists %d", len(hostSignals), len(agentproto.Signals))
	}
	for _, s := range agentproto.Signals {
		if _, ok := hostSignals[s]; !ok {
			t.Errorf("the protocol lists %s; the agent does not deliver it", s)
		}
	}
}
