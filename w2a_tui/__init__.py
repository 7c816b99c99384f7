"""w2a-tui: what every vCPU of every KVM guest was doing, from the host kernel trace alone."""

__version__ = "0.1.0"
