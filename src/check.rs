//! Strategic-complementarity checker (Definition 1 of Lee et al. 2021).
