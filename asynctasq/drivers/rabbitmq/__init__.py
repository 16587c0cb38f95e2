"""RabbitMQ driver (``pip install "asynctasq[rabbitmq]"``): see docs/drivers/rabbitmq.md."""

from asynctasq.drivers.rabbitmq.driver import RabbitMQDriver

__all__ = ["RabbitMQDriver"]
