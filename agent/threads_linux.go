package agent

import (
	"runtime"
	"sync"
)

// ReservedThreads is how many OS threads the agent makes before any user code runs. The agent
// needs a handful at once (a goroutine blocked in wait4, one reading the host's frames, the
// timer loop, the GC); this leaves room to spare and still most of the smallest pids limit to
// the program.
const ReservedThreads = 12

// ReserveThreads makes the Go runtime start n OS threads now and keep them idle.
//
// The container's pids limit counts threads as well as processes. A fork bomb takes every pid
// the limit allows; if the agent then needs one more thread (say the wait4 goroutine blocks while
// the timer must fire), the runtime cannot create it and aborts with "failed to create new OS
// thread": the job gets no answer and the user a 503 instead of a verdict. The runtime never gives
// idle threads back to the kernel and reuses them before creating new ones, so threads made here,
// before the program runs, are there when they are needed.
func ReserveThreads(n int) {
	var locked, done sync.WaitGroup
	release := make(chan struct{})
	locked.Add(n)
	done.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			defer done.Done()
			// A goroutine locked to its thread keeps it; the next one needs a thread of its own.
			runtime.LockOSThread()
			locked.Done()
			<-release
			// Unlocked before it ends, the thread goes back to the runtime's idle list (a
			// goroutine that ends locked takes its thread with it).
			runtime.UnlockOSThread()
		}()
	}
	locked.Wait()
	close(release)
	done.Wait()
}
