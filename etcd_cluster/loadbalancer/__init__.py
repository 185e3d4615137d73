"""The apiserver load balancer of the HA guide: haproxy and keepalived."""
