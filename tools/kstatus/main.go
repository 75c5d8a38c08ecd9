// Command kstatus prints what kstatus (sigs.k8s.io/cli-utils/pkg/kstatus/status, the library
// Flux's health checks call) computes for Kubernetes objects read as JSON from stdin.
//
// Input: one object, a List (anything with an "items" array), or several of them one after
// the other. Output: one JSON line per object,
//
//	{"name":..,"namespace":..,"status":"InProgress|Current|Failed|Terminating|NotFound|Unknown","message":..}
//
// The integration tests run it on objects fetched from a real API server, so that the
// operator's conditions are judged by kstatus itself rather than by a copy of its rules.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// verdict is one output line.
type verdict struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Status    string `json:"status"`
	Message   string `json:"message"`
}

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "kstatus: %v\n", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer) error {
	decoder := json.NewDecoder(bufio.NewReader(in))
	encoder := json.NewEncoder(out)
	seen := 0
	for {
		var raw json.RawMessage
		err := decoder.Decode(&raw)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading object %d: %w", seen+1, err)
		}
		objects, err := objectsOf(raw)
		if err != nil {
			return fmt.Errorf("object %d: %w", seen+1, err)
		}
		for _, object := range objects {
			result, err := status.Compute(object)
			if err != nil {
				return fmt.Errorf("%s/%s: %w", object.GetNamespace(), object.GetName(), err)
			}
			line := verdict{
				Name:      object.GetName(),
				Namespace: object.GetNamespace(),
				Status:    result.Status.String(),
				Message:   result.Message,
			}
			if err := encoder.Encode(line); err != nil {
				return err
			}
		}
		seen++
	}
	if seen == 0 {
		// An empty answer would read as "nothing is wrong" to a caller that loops over lines.
		return errors.New("no object on stdin")
	}
	return nil
}

// objectsOf decodes one JSON document: a List's items, or the object itself. The
// apimachinery decoders are used (not plain encoding/json) because they turn integers into
// int64, which is what kstatus expects of metadata.generation and status.observedGeneration;
// with float64 it would fail to read them.
func objectsOf(raw json.RawMessage) ([]*unstructured.Unstructured, error) {
	var probe struct {
		Items json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, err
	}
	if probe.Items != nil {
		list := &unstructured.UnstructuredList{}
		if err := list.UnmarshalJSON(raw); err != nil {
			return nil, err
		}
		objects := make([]*unstructured.Unstructured, 0, len(list.Items))
		for i := range list.Items {
			objects = append(objects, &list.Items[i])
		}
		return objects, nil
	}
	object := &unstructured.Unstructured{}
	if err := object.UnmarshalJSON(raw); err != nil {
		return nil, err
	}
	return []*unstructured.Unstructured{object}, nil
}
