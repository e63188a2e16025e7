// Command driver-client plays the Secrets Store CSI driver's node server for
// the real test suite: it reaches our provider through the driver's own client
// code (NewPluginClientBuilder, Version, MountContent) and lets the driver's
// own fileutil writer put the files into the target directory, exactly as
// NodePublishVolume does after it has mounted the tmpfs.
//
// Each request is one JSON line on stdin; each answer is one JSON line on
// stdout, in the order the requests finish (requests run concurrently, so a
// test can put several mounts in flight at once). The request's maps are
// marshalled the way nodeserver.go marshals them.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	secretsstore "sigs.k8s.io/secrets-store-csi-driver/pkg/secrets-store"
)

type request struct {
	ID         string            `json:"id"`
	Provider   string            `json:"provider"`
	Attributes map[string]string `json:"attributes"`
	// Secrets is the nodePublishSecretRef's data; nil marshals to "null" as
	// the driver sends it when a volume has no such Secret.
	Secrets    map[string]string `json:"secrets"`
	TargetPath string            `json:"targetPath"`
	// Permission is the default file mode; the driver always sends 0644.
	Permission *uint32 `json:"permission"`
	// TimeoutMs is the caller's deadline (the kubelet gives a mount about two minutes).
	TimeoutMs int64 `json:"timeoutMs"`
}

type answer struct {
	ID             string            `json:"id"`
	RuntimeVersion string            `json:"runtimeVersion,omitempty"`
	ObjectVersions map[string]string `json:"objectVersions"`
	ErrorCode      string            `json:"errorCode"`
	Error          string            `json:"error"`
	GRPCCode       string            `json:"grpcCode"`
	GRPCMessage    string            `json:"grpcMessage"`
	ElapsedMs      int64             `json:"elapsedMs"`
}

func main() {
	socketDir := flag.String("socket-dir", "", "directory that holds <provider>.sock")
	maxRecv := flag.Int("max-call-recv-msg-size", 1024*1024*4, "the driver's default receive limit")
	flag.Parse()
	if *socketDir == "" {
		fmt.Fprintln(os.Stderr, "driver-client: -socket-dir is required")
		os.Exit(2)
	}
	// The same dial options as the driver's main.go.
	clients := secretsstore.NewPluginClientBuilder([]string{*socketDir},
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(*maxRecv)))
	defer clients.Cleanup()

	var out sync.Mutex
	encoder := json.NewEncoder(os.Stdout)
	var wg sync.WaitGroup
	scanner := bufio.NewScanner(os.Stdin)
	scanner.Buffer(make([]byte, 1024*1024), 64*1024*1024)
	for scanner.Scan() {
		line := append([]byte(nil), scanner.Bytes()...)
		if len(line) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := handle(clients, line)
			out.Lock()
			defer out.Unlock()
			if err := encoder.Encode(a); err != nil {
				fmt.Fprintln(os.Stderr, "driver-client:", err)
			}
		}()
	}
	wg.Wait()
	if err := scanner.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "driver-client:", err)
		os.Exit(1)
	}
}

func handle(clients *secretsstore.PluginClientBuilder, line []byte) answer {
	var req request
	if err := json.Unmarshal(line, &req); err != nil {
		return answer{Error: "bad request line: " + err.Error()}
	}
	a := answer{ID: req.ID}
	provider := req.Provider
	if provider == "" {
		provider = "vault"
	}
	timeout := time.Duration(req.TimeoutMs) * time.Millisecond
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	started := time.Now()
	defer func() { a.ElapsedMs = time.Since(started).Milliseconds() }()

	client, err := clients.Get(ctx, provider)
	if err != nil {
		a.Error = err.Error()
		return a
	}
	if a.RuntimeVersion, err = secretsstore.Version(ctx, client); err != nil {
		fill(&a, err)
		return a
	}
	attributes, err := json.Marshal(req.Attributes)
	if err != nil {
		a.Error = err.Error()
		return a
	}
	secrets, err := json.Marshal(req.Secrets)
	if err != nil {
		a.Error = err.Error()
		return a
	}
	mode := os.FileMode(0644)
	if req.Permission != nil {
		mode = os.FileMode(*req.Permission)
	}
	permission, err := json.Marshal(mode)
	if err != nil {
		a.Error = err.Error()
		return a
	}
	versions, code, err := secretsstore.MountContent(ctx, client, string(attributes), string(secrets),
		req.TargetPath, string(permission), nil)
	a.ObjectVersions = versions
	a.ErrorCode = code
	if err != nil {
		fill(&a, err)
	}
	return a
}

func fill(a *answer, err error) {
	a.Error = err.Error()
	if s, ok := status.FromError(err); ok {
		a.GRPCCode = s.Code().String()
		a.GRPCMessage = s.Message()
	}
}
