// Command csi-kubelet plays the kubelet's side of the CSI node API for the real test suite: it calls the Secrets
// Store CSI driver's NodePublishVolume and NodeUnpublishVolume on the driver's socket the way the kubelet does for
// a CSI ephemeral inline volume (read-only, a mount capability, the pod attributes and tokens in the volume
// context), and reads back what the driver left in the target directory. It runs in the driver's mount namespace,
// where the driver's tmpfs mounts are visible.
//
// Each request is one JSON line on stdin; each answer one JSON line on stdout, in the order requests finish.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

type request struct {
	ID string `json:"id"`
	// Op is "publish", "unpublish" or "read" (the files under TargetPath, and whether it is a tmpfs mount).
	Op            string            `json:"op"`
	VolumeID      string            `json:"volumeId"`
	TargetPath    string            `json:"targetPath"`
	VolumeContext map[string]string `json:"volumeContext"`
	// Secrets is the nodePublishSecretRef's data, as the kubelet reads it from the Secret.
	Secrets   map[string]string `json:"secrets"`
	ReadOnly  bool              `json:"readOnly"`
	TimeoutMs int64             `json:"timeoutMs"`
}

type file struct {
	Path     string `json:"path"`
	Mode     uint32 `json:"mode"`
	Contents []byte `json:"contents"`
}

type answer struct {
	ID          string `json:"id"`
	GRPCCode    string `json:"grpcCode"`
	GRPCMessage string `json:"grpcMessage"`
	// Mounted: the target path is a tmpfs mount point (from /proc/self/mountinfo).
	Mounted   bool   `json:"mounted"`
	Files     []file `json:"files"`
	Error     string `json:"error,omitempty"`
	ElapsedMs int64  `json:"elapsedMs"`
}

func main() {
	endpoint := flag.String("endpoint", "", "the driver's CSI socket (a path)")
	flag.Parse()
	if *endpoint == "" {
		fmt.Fprintln(os.Stderr, "csi-kubelet: -endpoint is required")
		os.Exit(2)
	}
	conn, err := grpc.NewClient("unix://"+*endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "csi-kubelet:", err)
		os.Exit(1)
	}
	defer conn.Close()
	node := csi.NewNodeClient(conn)

	var out sync.Mutex
	enc := json.NewEncoder(os.Stdout)
	var wg sync.WaitGroup
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for in.Scan() {
		var req request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			fmt.Fprintln(os.Stderr, "csi-kubelet: bad request line:", err)
			os.Exit(2)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := handle(node, req)
			out.Lock()
			defer out.Unlock()
			_ = enc.Encode(a)
		}()
	}
	wg.Wait()
}

func handle(node csi.NodeClient, req request) answer {
	start := time.Now()
	a := answer{ID: req.ID}
	timeout := time.Duration(req.TimeoutMs) * time.Millisecond
	if timeout <= 0 {
		timeout = 2 * time.Minute // the kubelet's operation timeout for a mount
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var err error
	switch req.Op {
	case "publish":
		_, err = node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{
			VolumeId:   req.VolumeID,
			TargetPath: req.TargetPath,
			VolumeCapability: &csi.VolumeCapability{
				AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
				AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
			},
			Readonly:      req.ReadOnly,
			Secrets:       req.Secrets,
			VolumeContext: req.VolumeContext,
		})
	case "unpublish":
		_, err = node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: req.VolumeID, TargetPath: req.TargetPath})
	case "read":
	default:
		a.Error = "unknown op " + req.Op
	}
	if err != nil {
		st, _ := status.FromError(err)
		a.GRPCCode = st.Code().String()
		a.GRPCMessage = st.Message()
	}
	a.Mounted = isTmpfsMount(req.TargetPath)
	if a.Mounted || req.Op == "read" {
		files, readErr := readFiles(req.TargetPath)
		a.Files = files
		if readErr != nil && a.Error == "" {
			a.Error = readErr.Error()
		}
	}
	a.ElapsedMs = time.Since(start).Milliseconds()
	return a
}

// readFiles lists the files a pod would see under dir: the writer's "..data" links resolved, its dot-dot
// directories themselves left out.
func readFiles(dir string) ([]file, error) {
	var files []file
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && path == dir {
				return fs.SkipAll
			}
			return err
		}
		if path == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		if strings.HasPrefix(filepath.Base(rel), "..") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		info, err := os.Stat(path) // through the writer's symlinks
		if err != nil {
			return err
		}
		if info.IsDir() {
			if d.Type()&fs.ModeSymlink != 0 {
				return walkLinkedDir(path, rel, &files)
			}
			return nil
		}
		contents, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files = append(files, file{Path: rel, Mode: uint32(info.Mode().Perm()), Contents: contents})
		return nil
	})
	return files, err
}

// walkLinkedDir reads a directory reached through a symlink (a nested path's top component).
func walkLinkedDir(path, rel string, files *[]file) error {
	sub, err := readFiles(path + "/")
	if err != nil {
		return err
	}
	for _, f := range sub {
		f.Path = filepath.Join(rel, f.Path)
		*files = append(*files, f)
	}
	return nil
}

func isTmpfsMount(path string) bool {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	clean := filepath.Clean(path)
	for _, line := range bytes.Split(data, []byte("\n")) {
		fields := strings.Fields(string(line))
		// mount point is field 5; the filesystem type follows the "-" separator
		if len(fields) < 10 || fields[4] != clean {
			continue
		}
		for i, f := range fields {
			if f == "-" && i+1 < len(fields) && fields[i+1] == "tmpfs" {
				return true
			}
		}
	}
	return false
}
