"""Python ports of dlc's built-in environments (runtime/env.c), for the
PyTorch twins of the reinforcement-learning examples and for the tests.

CartPole follows Gymnasium's CartPole-v1 (gymnasium/envs/classic_control/
cartpole.py): the same constants, Euler integration, termination when the
cart leaves +-2.4 or the pole +-12 degrees, reward 1 on every step, and the
500-step limit of its registration.  The state is kept in float64; reset
draws it uniformly from (-0.05, 0.05) with the generator the caller gives
(dlc draws with its own PCG32 stream, so only the equations, not the
starting states, are shared)."""
import math


class CartPole:
    gravity = 9.8
    masscart = 1.0
    masspole = 0.1
    total_mass = masspole + masscart
    length = 0.5  # half the pole's length
    polemass_length = masspole * length
    force_mag = 10.0
    tau = 0.02
    theta_threshold_radians = 12 * 2 * math.pi / 360
    x_threshold = 2.4
    max_steps = 500
    reward_threshold = 475.0
    obs_size = 4
    nactions = 2

    def __init__(self):
        self.state = None

    def reset_to(self, state):
        self.state = [float(v) for v in state]
        return list(self.state)

    def reset(self, rng):
        """rng: a callable returning floats uniform in [0, 1)."""
        return self.reset_to([-0.05 + 0.1 * rng() for _ in range(4)])

    def step(self, action):
        x, x_dot, theta, theta_dot = self.state
        force = self.force_mag if action == 1 else -self.force_mag
        costheta = math.cos(theta)
        sintheta = math.sin(theta)
        temp = (force + self.polemass_length * theta_dot**2 * sintheta) / self.total_mass
        thetaacc = (self.gravity * sintheta - costheta * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * costheta**2 / self.total_mass))
        xacc = temp - self.polemass_length * thetaacc * costheta / self.total_mass
        x = x + self.tau * x_dot
        x_dot = x_dot + self.tau * xacc
        theta = theta + self.tau * theta_dot
        theta_dot = theta_dot + self.tau * thetaacc
        self.state = [x, x_dot, theta, theta_dot]
        terminated = (x < -self.x_threshold or x > self.x_threshold or
                      theta < -self.theta_threshold_radians or theta > self.theta_threshold_radians)
        return list(self.state), 1.0, bool(terminated)
