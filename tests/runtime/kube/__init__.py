"""The emulated Kubernetes cluster of the Kubernetes runner's tests: API emulator, test kubelet."""
