"""The device runtime's wiring, one for the panel, the kiosk and the headless agent.

* :mod:`tapin.device.runtime`: the memory the UI is a view of (site, calendar,
  directory, availability) and how central's snapshots land in it
  (:mod:`tapin.device.snapshots`);
* :mod:`tapin.device.services`: the queue and its sync (or the demo's stand-in),
  presence, the control socket and the one table of scheduled jobs;
  :mod:`tapin.device.devicesync`: an enrolled device's link to central (identity,
  sealed queue, client, sync agent, the apps' sink); :mod:`tapin.device.agentrun`:
  ``tapin agent`` and how a process leaves when central's command asks;
* :mod:`tapin.device.doctor`: ``tapin doctor`` (config, enrollment, central, TLS,
  queue), with the machine's own checks in :mod:`tapin.device.machine_checks`;
* :mod:`tapin.device.control`: the local socket ``tapin status`` / ``tapin queue`` ask;
* :mod:`tapin.device.adminpin`: the admin screen's PIN (scrypt) and its lockout.
"""
