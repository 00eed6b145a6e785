"""Code shared by every service: the event contract and the service runtime."""
