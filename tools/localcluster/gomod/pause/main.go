// Command pause is the sandbox ("pause") process of the local cluster's real node: it holds a pod's namespaces
// open, sleeps until SIGTERM or SIGINT, then exits 0. As PID 1 of its container it gets no default signal
// handling, so the signals are caught explicitly. Built static (CGO_ENABLED=0) by tools/localcluster/_images.py.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	<-signals
}
