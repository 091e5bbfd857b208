// The ketama hash ring. See HashRing.
