// Command clientgo-elector is the blog's client-go leader-election program, as the interop tests run it:
// leaderelection.RunOrDie on a Lease lock with ReleaseOnCancel, the blog's flags (-id, -lease-lock-name,
// -lease-lock-namespace, -kubeconfig) and the three timings. It exits 0 when leadership is lost, as the
// blog's OnStoppedLeading does, and on SIGTERM/SIGINT after releasing the Lease.
//
// With -leading-log it appends one JSON line per term boundary, {"event": "started"|"stopped", "id", "t"}
// (t in Unix seconds), the format of leadergroup-elector's -leading-log, so tests judge both alike; on SIGTERM
// the term ends when the work is told to stop, before client-go releases the Lease.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"
)

type leadingLog struct {
	mu      sync.Mutex
	file    *os.File
	id      string
	leading bool
}

// started records that a term began.
func (l *leadingLog) started() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.leading = true
	l.writeLocked("started")
}

// stopped records that the term, if any, ended: called on SIGTERM before the context is cancelled, so the
// record precedes the release (client-go releases in renew, before it calls OnStoppedLeading, and a
// watching candidate can log its own start in between), and again from OnStoppedLeading.
func (l *leadingLog) stopped() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.leading {
		l.leading = false
		l.writeLocked("stopped")
	}
}

func (l *leadingLog) writeLocked(event string) {
	if l.file == nil {
		return
	}
	line, _ := json.Marshal(map[string]any{
		"event": event, "id": l.id, "t": float64(time.Now().UnixNano()) / 1e9,
	})
	// One write per line, synced: a SIGKILL right after must not lose a "started".
	_, _ = l.file.Write(append(line, '\n'))
	_ = l.file.Sync()
}

func main() {
	klog.InitFlags(nil)
	var (
		id             = flag.String("id", "", "the holder identity (required)")
		leaseName      = flag.String("lease-lock-name", "", "the Lease's name (required)")
		leaseNamespace = flag.String("lease-lock-namespace", "", "the Lease's namespace (required)")
		kubeconfig     = flag.String("kubeconfig", "", "path to a kubeconfig; in-cluster config when empty")
		leaseDuration  = flag.Duration("lease-duration", 60*time.Second, "LeaseDuration")
		renewDeadline  = flag.Duration("renew-deadline", 15*time.Second, "RenewDeadline")
		retryPeriod    = flag.Duration("retry-period", 5*time.Second, "RetryPeriod")
		contentType    = flag.String("content-type", "", "request content type (application/json for an API server that speaks JSON only)")
		leadingLogPath = flag.String("leading-log", "", "append JSON lines {event, id, t} when leading starts and stops")
	)
	flag.Parse()
	if *id == "" || *leaseName == "" || *leaseNamespace == "" {
		klog.Fatal("-id, -lease-lock-name and -lease-lock-namespace are required")
	}

	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		klog.Fatal(err)
	}
	if *contentType != "" {
		config.ContentType = *contentType
		config.AcceptContentTypes = *contentType
	}
	client := kubernetes.NewForConfigOrDie(config)

	log := &leadingLog{id: *id}
	if *leadingLogPath != "" {
		log.file, err = os.OpenFile(*leadingLogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			klog.Fatal(err)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-signals
		klog.Info("Received termination, signaling shutdown")
		log.stopped() // the term ends as the work is told to stop, before the release
		cancel()
	}()

	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: *leaseName, Namespace: *leaseNamespace},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: *id},
	}
	leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
		Lock:            lock,
		ReleaseOnCancel: true,
		LeaseDuration:   *leaseDuration,
		RenewDeadline:   *renewDeadline,
		RetryPeriod:     *retryPeriod,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				log.started()
				klog.Infof("%s: started leading", *id)
			},
			OnStoppedLeading: func() {
				log.stopped()
				klog.Infof("leader lost: %s", *id)
				os.Exit(0)
			},
			OnNewLeader: func(identity string) {
				if identity == *id {
					return
				}
				fmt.Fprintf(os.Stderr, "new leader elected: %s\n", identity)
			},
		},
	})
}
