"""The seed's customer-refund example: look up the order, check the policy, reverse the payment, notify."""
